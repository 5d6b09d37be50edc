package postgres

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// TestTrackerMatchesPostgres sends random pipelines of Query, Parse,
// Bind, Describe, Execute, Close, Flush, Sync and FunctionCall, every
// statement inserting a unique marker and some failing, through the
// audited relay to a real PostgreSQL. A model of PostgreSQL's rules says
// which statements run, fail, are discarded after an error or are rolled
// back; the test checks the model against the table (every committed
// marker, no other) and the session's audit events against the model,
// exactly and in order: each statement that ran has one event with its
// text and marker, and none claims success for a statement that did not
// run.
//
// KEYWAY_AUDIT_PROP_ITER sets the number of sessions (default 25) and
// KEYWAY_AUDIT_PROP_SEED the seed (default fixed); make fuzz runs more.
func TestTrackerMatchesPostgres(t *testing.T) {
	iterations := envInt(t, "KEYWAY_AUDIT_PROP_ITER", 25)
	seed := uint64(envInt(t, "KEYWAY_AUDIT_PROP_SEED", 13))
	files := pgtest.WriteTLSFiles(t, "postgres")
	opts := files.Options()
	opts.HBA = []string{"host all all 127.0.0.1/32 trust"}
	pg := pgtest.Start(t, opts)
	pg.SQL(t, `create table marks (m text not null);
create function mark(text) returns int language sql as $$ insert into marks values ($1); select 1 $$;
create function markfail(text) returns int language sql as $$ insert into marks values ($1); select 1/0 $$`)
	oids := strings.Fields(pg.SQL(t, "select 'mark'::regproc::oid || ' ' || 'markfail'::regproc::oid"))
	okFn, _ := strconv.ParseUint(oids[0], 10, 32)
	failFn, _ := strconv.ParseUint(oids[1], 10, 32)
	t.Logf("seed %d, %d sessions", seed, iterations)
	rng := rand.New(rand.NewPCG(seed, seed^0x6b6579776179))
	for i := range iterations {
		m := newPGModel(fmt.Sprintf("i%d-", i), uint32(okFn), uint32(failFn))
		script := m.generate(rng, 8+rng.IntN(40))
		events := runThroughRelay(t, pg, script, rng)
		var got []string
		for _, e := range events {
			got = append(got, renderFull(e))
		}
		if strings.Join(got, "\n") != strings.Join(m.events, "\n") {
			t.Fatalf("session %d (seed %d): events differ from the model\nscript:\n%s\ngot:\n%s\nwant:\n%s",
				i, seed, m.describe(), strings.Join(got, "\n"), strings.Join(m.events, "\n"))
		}
		var table []string
		if out := pg.SQL(t, "select m from marks where m like '"+m.prefix+"%' order by m"); out != "" {
			table = strings.Split(out, "\n")
		}
		want := slices.Sorted(func(yield func(string) bool) {
			for k := range m.committed {
				if !yield(k) {
					return
				}
			}
		})
		if strings.Join(table, ",") != strings.Join(want, ",") {
			t.Fatalf("session %d (seed %d): the table holds %v, the model committed %v\nscript:\n%s", i, seed, table, want, m.describe())
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// renderFull is an event with every field the model predicts.
func renderFull(e sdk.AuditEvent) string {
	out := e.Code + " " + map[bool]string{true: "ok", false: "fail"}[e.Success] + " " + e.Query
	if len(e.Parameters) > 0 {
		out += " [" + strings.Join(e.Parameters, ",") + "]"
	}
	if e.CommandTag != "" {
		out += " tag=" + e.CommandTag
	}
	if e.Error != "" {
		out += " err=" + strings.SplitN(e.Error, ":", 2)[0]
	}
	return out
}

// runThroughRelay opens a session to pg, relays it through the audited
// relay, writes script in random pieces, then Terminate, reads every
// answer and returns the session's events.
func runThroughRelay(t *testing.T, pg *pgtest.Server, script []byte, rng *rand.Rand) []sdk.AuditEvent {
	t.Helper()
	upstream, err := net.DialTimeout("tcp", pg.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = upstream.Close() }()
	startup, err := startupMessage(map[string]string{"user": "postgres", "database": "postgres"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := upstream.Write(startup); err != nil {
		t.Fatal(err)
	}
	for {
		typ, body, err := readMessage(upstream)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if typ == 'E' {
			t.Fatalf("login refused: %q", body)
		}
		if typ == 'Z' {
			break
		}
	}
	app, relayEnd := tcpPair(t)
	host := &recordingHost{}
	tr := newTracker(testAudit(host), 1<<10)
	relayed := make(chan struct{})
	go func() {
		relayAudited(tr, newBufferPool(), func(int) {}, func(int) {}, relayEnd, upstream, upstream, noEnd)
		close(relayed)
	}()
	term, _ := (&pgproto3.Terminate{}).Encode(nil)
	script = append(script, term...)
	go func() {
		for rest := script; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(300))
			if _, err := app.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		_ = app.(*net.TCPConn).CloseWrite()
	}()
	_ = app.SetReadDeadline(time.Now().Add(time.Minute))
	answers, err := io.ReadAll(app)
	if err != nil {
		t.Fatalf("reading the answers: %v", err)
	}
	<-relayed
	if bytes.Contains(answers, []byte("keyway")) {
		t.Fatalf("keyway ended the session: %q", answers)
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	return slices.Clone(host.events)
}

// pgModel generates a pipeline and predicts, by PostgreSQL's rules, what
// runs and what the tracker records.
type pgModel struct {
	prefix       string
	okFn, failFn uint32
	next         int
	script       []byte
	steps        []string
	statements   map[string]modelStatement
	portals      map[string]modelPortal
	skipping     bool
	intended     map[string]modelPortal
	transaction  []string
	committed    map[string]bool
	events       []string
}

type modelStatement struct {
	text  string
	fails bool
}

type modelPortal struct {
	text   string
	marker string
	fails  bool
	used   bool
}

func newPGModel(prefix string, okFn, failFn uint32) *pgModel {
	return &pgModel{prefix: prefix, okFn: okFn, failFn: failFn,
		statements: map[string]modelStatement{}, portals: map[string]modelPortal{}, committed: map[string]bool{}}
}

func (m *pgModel) marker() string {
	m.next++
	return fmt.Sprintf("%s%03d", m.prefix, m.next)
}

func (m *pgModel) send(msg interface{ Encode([]byte) ([]byte, error) }, what string) {
	b, err := msg.Encode(nil)
	if err != nil {
		panic(err)
	}
	m.script = append(m.script, b...)
	m.steps = append(m.steps, what)
}

func (m *pgModel) describe() string { return strings.Join(m.steps, "\n") }

// abort rolls the open transaction back.
func (m *pgModel) abort() {
	m.transaction = nil
	m.portals = map[string]modelPortal{}
}

// commit ends the open transaction.
func (m *pgModel) commit() {
	for _, k := range m.transaction {
		m.committed[k] = true
	}
	m.abort()
}

// extendedError is an ErrorResponse to an extended-protocol message:
// the transaction is rolled back, and messages are discarded until the
// Sync. The portals are gone with the transaction; a discarded Execute
// of one is still recorded with its text.
func (m *pgModel) extendedError() {
	m.transaction = nil
	m.skipping = true
}

const (
	insertParam     = "insert into marks values ($1)"
	insertParamFail = "insert into marks values ($1 || (1/(random()*0)::int)::text)"
	insertBadParse  = "insert into nosuch values ($1)"
)

func (m *pgModel) generate(rng *rand.Rand, n int) []byte {
	for range n {
		switch k := rng.IntN(20); {
		case k < 3:
			m.query(rng)
		case k < 6:
			m.parse(rng)
		case k < 9:
			m.bind(rng)
		case k < 13:
			m.execute(rng)
		case k < 14:
			m.describe1(rng)
		case k < 15:
			m.close1(rng)
		case k < 16:
			if rng.IntN(2) == 0 {
				m.send(&pgproto3.Flush{}, "Flush")
			} else {
				m.copy(rng)
			}
		case k < 18:
			m.sync()
		default:
			m.function(rng)
		}
	}
	m.sync()
	return m.script
}

func (m *pgModel) query(rng *rand.Rand) {
	var parts []string
	var markers []string
	var fails []bool
	for range 1 + rng.IntN(3) {
		k := m.marker()
		f := rng.IntN(6) == 0
		if f {
			parts = append(parts, "insert into marks values ('"+k+"' || (1/0)::text)")
		} else {
			parts = append(parts, "insert into marks values ('"+k+"')")
		}
		markers, fails = append(markers, k), append(fails, f)
	}
	text := strings.Join(parts, "; ")
	m.send(&pgproto3.Query{String: text}, "Query "+text)
	if m.skipping {
		m.events = append(m.events, "TQ03 fail "+text+" err=not executed")
		return
	}
	// A Query runs in the unnamed statement and portal.
	delete(m.statements, "")
	for i, k := range markers {
		if fails[i] {
			m.events = append(m.events, "TQ02 fail "+text+" err=22012")
			m.abort()
			return
		}
		m.events = append(m.events, "TQ01 ok "+text+" tag=INSERT 0 1")
		m.transaction = append(m.transaction, k)
	}
	m.commit()
}

func pick[V any](rng *rand.Rand, from map[string]V, extra ...string) string {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range from {
			if !yield(k) {
				return
			}
		}
	})
	names = append(names, extra...)
	if len(names) == 0 {
		return ""
	}
	return names[rng.IntN(len(names))]
}

func (m *pgModel) parse(rng *rand.Rand) {
	name := []string{"", "s1", "s2"}[rng.IntN(3)]
	if _, exists := m.statements[name]; exists && name != "" {
		name = ""
	}
	text, fails, bad := insertParam, false, false
	switch rng.IntN(6) {
	case 0:
		text, fails = insertParamFail, true
	case 1:
		text, bad = insertBadParse, true
	}
	m.send(&pgproto3.Parse{Name: name, Query: text}, fmt.Sprintf("Parse %q %s", name, text))
	switch {
	case m.skipping:
		m.intend("s"+name, modelPortal{text: text, fails: fails})
	case bad:
		m.events = append(m.events, "TS02 fail "+text+" err=42P01")
		if name == "" {
			delete(m.statements, "")
		}
		m.intend("s"+name, modelPortal{text: text})
		m.extendedError()
	default:
		m.statements[name] = modelStatement{text: text, fails: fails}
	}
}

func (m *pgModel) intend(key string, p modelPortal) {
	if m.intended == nil {
		m.intended = map[string]modelPortal{}
	}
	m.intended[key] = p
}

func (m *pgModel) bind(rng *rand.Rand) {
	stmt := pick(rng, m.statements, "nosuch")
	portal := []string{"", "p1"}[rng.IntN(2)]
	if _, exists := m.portals[portal]; exists && portal != "" {
		portal = ""
	}
	k := m.marker()
	m.send(&pgproto3.Bind{DestinationPortal: portal, PreparedStatement: stmt, Parameters: [][]byte{[]byte(k)}},
		fmt.Sprintf("Bind %q %q [%s]", portal, stmt, k))
	if m.skipping {
		s, ok := m.intended["s"+stmt]
		if !ok {
			st := m.statements[stmt]
			s = modelPortal{text: st.text}
		}
		m.intend("p"+portal, modelPortal{text: s.text, marker: k})
		return
	}
	s, ok := m.statements[stmt]
	if !ok {
		m.events = append(m.events, "TS02 fail  ["+k+"] err=26000")
		m.extendedError()
		return
	}
	m.portals[portal] = modelPortal{text: s.text, marker: k, fails: s.fails}
}

func (m *pgModel) execute(rng *rand.Rand) {
	var unused []string
	for name, p := range m.portals {
		if !p.used {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	portal := "nosuch"
	if len(unused) > 0 && rng.IntN(8) > 0 {
		portal = unused[rng.IntN(len(unused))]
	}
	if m.skipping {
		portal = strings.TrimPrefix(pick(rng, m.intended, "p", "pp1"), "p")
		if _, ok := m.intended["p"+portal]; !ok && strings.HasPrefix(portal, "s") {
			portal = ""
		}
	}
	m.send(&pgproto3.Execute{Portal: portal}, fmt.Sprintf("Execute %q", portal))
	if m.skipping {
		p, ok := m.intended["p"+portal]
		if !ok {
			p = m.portals[portal]
		}
		m.events = append(m.events, "TS03 fail "+p.text+params(p.marker)+" err=not executed")
		return
	}
	p, ok := m.portals[portal]
	switch {
	case !ok:
		m.events = append(m.events, "TS02 fail  err=34000")
		m.extendedError()
	case p.fails:
		m.events = append(m.events, "TS02 fail "+p.text+params(p.marker)+" err=22012")
		m.extendedError()
	default:
		m.events = append(m.events, "TS01 ok "+p.text+params(p.marker)+" tag=INSERT 0 1")
		m.transaction = append(m.transaction, p.marker)
		p.used = true
		m.portals[portal] = p
	}
}

func params(marker string) string {
	if marker == "" {
		return ""
	}
	return " [" + marker + "]"
}

func (m *pgModel) describe1(rng *rand.Rand) {
	if rng.IntN(2) == 0 {
		name := pick(rng, m.statements, "nosuch")
		m.send(&pgproto3.Describe{ObjectType: 'S', Name: name}, fmt.Sprintf("Describe S %q", name))
		if _, ok := m.statements[name]; !ok && !m.skipping {
			m.events = append(m.events, "TS02 fail  err=26000")
			m.extendedError()
		}
		return
	}
	name := pick(rng, m.portals, "nosuch")
	m.send(&pgproto3.Describe{ObjectType: 'P', Name: name}, fmt.Sprintf("Describe P %q", name))
	if _, ok := m.portals[name]; !ok && !m.skipping {
		m.events = append(m.events, "TS02 fail  err=34000")
		m.extendedError()
	}
}

func (m *pgModel) close1(rng *rand.Rand) {
	if rng.IntN(2) == 0 {
		name := pick(rng, m.statements, "nosuch")
		m.send(&pgproto3.Close{ObjectType: 'S', Name: name}, fmt.Sprintf("Close S %q", name))
		if !m.skipping {
			delete(m.statements, name)
		}
		return
	}
	name := pick(rng, m.portals, "nosuch")
	m.send(&pgproto3.Close{ObjectType: 'P', Name: name}, fmt.Sprintf("Close P %q", name))
	if !m.skipping {
		delete(m.portals, name)
	}
}

// copy sends a COPY FROM STDIN of one marker without waiting for the
// server's CopyInResponse: by a Query, ended by CopyDone or CopyFail, or
// extended as libpq sends it, with a Sync before the data (which the
// server ignores inside the COPY) and one after.
func (m *pgModel) copy(rng *rand.Rand) {
	k := m.marker()
	const text = "copy marks from stdin"
	data := &pgproto3.CopyData{Data: []byte(k + "\n")}
	if rng.IntN(2) == 0 {
		m.send(&pgproto3.Query{String: text}, "Query "+text)
		m.send(data, "CopyData "+k)
		fail := rng.IntN(4) == 0
		if fail {
			m.send(&pgproto3.CopyFail{Message: "changed my mind"}, "CopyFail")
		} else {
			m.send(&pgproto3.CopyDone{}, "CopyDone")
		}
		switch {
		case m.skipping:
			m.events = append(m.events, "TQ03 fail "+text+" err=not executed")
		case fail:
			delete(m.statements, "")
			m.events = append(m.events, "TQ02 fail "+text+" err=57014")
			m.abort()
		default:
			delete(m.statements, "")
			m.events = append(m.events, "TQ01 ok "+text+" tag=COPY 1")
			m.transaction = append(m.transaction, k)
			m.commit()
		}
		return
	}
	m.send(&pgproto3.Parse{Query: text}, "Parse \"\" "+text)
	m.send(&pgproto3.Bind{}, "Bind \"\" \"\"")
	m.send(&pgproto3.Execute{}, "Execute \"\"")
	m.send(&pgproto3.Sync{}, "Sync (inside the COPY)")
	m.send(data, "CopyData "+k)
	m.send(&pgproto3.CopyDone{}, "CopyDone")
	if m.skipping {
		m.events = append(m.events, "TS03 fail "+text+" err=not executed")
		m.skipping = false
		m.intended = nil
		m.commit()
	} else {
		// The unnamed statement is now the COPY, which takes no
		// parameters: later Binds are not generated for it.
		delete(m.statements, "")
		m.events = append(m.events, "TS01 ok "+text+" tag=COPY 1")
		m.transaction = append(m.transaction, k)
	}
	m.sync()
}

func (m *pgModel) sync() {
	m.send(&pgproto3.Sync{}, "Sync")
	m.skipping = false
	m.intended = nil
	m.commit()
}

func (m *pgModel) function(rng *rand.Rand) {
	k := m.marker()
	fn, fails := m.okFn, rng.IntN(4) == 0
	if fails {
		fn = m.failFn
	}
	m.send(&pgproto3.FunctionCall{Function: fn, Arguments: [][]byte{[]byte(k)}}, fmt.Sprintf("FunctionCall %d [%s]", fn, k))
	text := functionCallText(fn)
	switch {
	case m.skipping:
		m.events = append(m.events, "TF03 fail "+text+" ["+k+"] err=not executed")
	case fails:
		m.events = append(m.events, "TF02 fail "+text+" ["+k+"] err=22012")
		m.abort()
	default:
		m.events = append(m.events, "TF01 ok "+text+" ["+k+"]")
		m.transaction = append(m.transaction, k)
		m.commit()
	}
}
