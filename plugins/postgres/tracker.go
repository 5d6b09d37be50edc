package postgres

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/dbsession"
)

// maxTracked bounds what one session's tracker holds: the messages the
// server has yet to answer, prepared statements and open portals. A
// client that pipelines past it is refused (SQLSTATE 54000).
const maxTracked = 64 << 20

// Tracker failures end the session.
var (
	// errLostTrack: the server answered in a way the tracker cannot
	// place, so it could no longer say which statement ran.
	errLostTrack = errors.New("keyway lost track of which statements PostgreSQL ran")
	// errTooMuchPending: the client sent more than maxTracked without
	// reading answers.
	errTooMuchPending = fmt.Errorf("keyway refuses the message: the session holds more than %d MiB of statements and messages that PostgreSQL has not answered yet; read the answers before sending more", maxTracked>>20)
)

// Event codes of statements.
const (
	codeQueryDone        = "TQ01"
	codeQueryFailed      = "TQ02"
	codeQuerySkipped     = "TQ03"
	codeStatementDone    = "TS01"
	codeStatementFailed  = "TS02"
	codeStatementSkipped = "TS03"
	codeSyncFailed       = "TS04"
	codeFunctionDone     = "TF01"
	codeFunctionFailed   = "TF02"
	codeFunctionSkipped  = "TF03"
	codeOutcomeUnknown   = "TK01"
)

// skippedAfterError is the error of a statement PostgreSQL discarded.
const skippedAfterError = "not executed: PostgreSQL discards every message after an error until the next Sync"

type statement struct {
	text string
	cut  bool
}

type portal struct {
	text   string
	params []string
	cut    bool
}

// tracker follows a session's messages as PostgreSQL processes them, in
// order, and turns each outcome into an audit event: every statement that
// completes, fails or is discarded is recorded once, with its text.
//
// The client side queues each message before its last byte goes to the
// server; the server side consumes the queue as the answers arrive, so a
// message is always queued before the server can answer it. State that
// the server changes (prepared statements, portals) is changed when the
// server says it did (ParseComplete, BindComplete, CloseComplete).
type tracker struct {
	a        *dbsession.Audit
	maxParam int

	mu         sync.Mutex
	statements map[string]statement
	portals    map[string]portal
	queue      []request
	// used is roughly what the maps and the queue hold, in bytes.
	used int
	// skipping: an extended-protocol message failed, and the server
	// discards what follows until a Sync.
	skipping bool
	// copyIn: the head statement is in a COPY FROM STDIN; the server
	// reads CopyData, CopyDone, CopyFail and ignores Flush and Sync.
	copyIn bool
	// answered counts the results of the head Query (one per statement)
	// or FunctionCall, or the error that answered a Sync.
	answered int
	// lost is set once the tracker could not place an answer; it stays.
	lost error
	// intended holds, while skipping, the statements and portals that
	// the discarded Parse and Bind messages would have made, so a
	// discarded Execute is recorded with the text it was meant to run.
	intended map[string]portal
}

func newTracker(a *dbsession.Audit, maxParam int) *tracker {
	return &tracker{a: a, maxParam: max(maxParam, 0), statements: map[string]statement{}, portals: map[string]portal{}}
}

// fromClient queues a client message. It returns an error when the
// message must not reach the server.
func (t *tracker) fromClient(r request) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lost != nil {
		return t.lost
	}
	switch r.typ {
	case 'H', 'd':
		// Flush and CopyData are never answered, in any state.
		return nil
	}
	c := r.cost()
	if t.used+c > maxTracked {
		return errTooMuchPending
	}
	t.used += c
	t.queue = append(t.queue, r)
	return nil
}

// fromServer notes a server message before it is passed to the client:
// the events of the statements it completes are queued first. An error
// means the tracker lost track; the session must end.
func (t *tracker) fromServer(typ byte, body []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lost != nil {
		return t.lost
	}
	switch typ {
	case 'N', 'S', 'A':
		// Notices, parameter changes and notifications come at any time.
		return nil
	}
	if err := t.answer(typ, body); err != nil {
		t.lose(err)
		return t.lost
	}
	return nil
}

// answer places one server message.
func (t *tracker) answer(typ byte, body []byte) error {
	for {
		t.settle()
		if len(t.queue) == 0 {
			if typ == 'E' {
				// A FATAL error while idle, such as a shutdown.
				return nil
			}
			return fmt.Errorf("%w: the server sent %q with nothing outstanding", errLostTrack, typ)
		}
		h := &t.queue[0]
		if h.soft && h.typ == 'S' && typ != 'Z' {
			// The COPY had read this Sync: it gets no answer.
			t.pop()
			continue
		}
		break
	}
	var after func()
	if t.copyIn {
		var err error
		switch typ {
		case 'c':
			// The server's end of a CopyBoth (replication) stream.
			return nil
		case 'C':
			after, err = t.endCopy(true, "")
		case 'E':
			after, err = t.endCopy(false, errorFields(body).code)
		default:
			err = fmt.Errorf("%w: the server sent %q during a COPY", errLostTrack, typ)
		}
		if err != nil {
			return err
		}
	}
	if err := t.answerHead(typ, body); err != nil {
		return err
	}
	if after != nil {
		after()
	}
	return nil
}

// answerHead places a server message as an answer to the head of the
// queue.
func (t *tracker) answerHead(typ byte, body []byte) error {
	h := &t.queue[0]
	switch h.typ {
	case 'Q':
		return t.answerQuery(h, typ, body)
	case 'F':
		return t.answerFunction(h, typ, body)
	case 'S':
		return t.answerSync(h, typ, body)
	case 'P', 'B', 'D', 'C', 'E':
		return t.answerExtended(h, typ, body)
	}
	// A message the server does not know: it refuses it.
	if typ != 'E' {
		return fmt.Errorf("%w: the server answered message %q with %q", errLostTrack, h.typ, typ)
	}
	t.failed(sdkStatement, codeStatementFailed, "", nil, false, "", "", body)
	t.pop()
	return nil
}

// settle removes the queued messages the server processes without an
// answer in its current state.
func (t *tracker) settle() {
	for len(t.queue) > 0 && !t.copyIn {
		h := t.queue[0]
		switch {
		case h.typ == 'X' || h.typ == 'c' || h.typ == 'f':
			// Terminate ends the session; CopyDone and CopyFail outside
			// a COPY are ignored.
			t.pop()
		case t.skipping && h.typ != 'S':
			switch h.typ {
			case 'P':
				t.intend("s"+h.name, portal{text: h.text, cut: h.cut})
			case 'B':
				s := t.meant(h.stmt)
				t.intend("p"+h.name, portal{text: s.text, params: h.params, cut: s.cut || h.cut})
			case 'Q':
				t.skipped(sdkQuery, codeQuerySkipped, h.text, nil, h.cut, skippedAfterError)
			case 'F':
				t.skipped(sdkStatement, codeFunctionSkipped, h.text, h.params, h.cut, skippedAfterError)
			case 'E':
				p, ok := t.intended["p"+h.name]
				if !ok {
					p = t.portals[h.name]
				}
				t.skipped(sdkStatement, codeStatementSkipped, p.text, p.params, p.cut, skippedAfterError)
			}
			t.pop()
		default:
			return
		}
	}
}

func (t *tracker) answerQuery(h *request, typ byte, body []byte) error {
	switch typ {
	case 'T', 'D', 'H', 'd', 'c':
	case 'G', 'W':
		t.copyIn = true
	case 'C', 'I':
		t.answered++
		t.completed(sdkQuery, codeQueryDone, h.text, nil, h.cut, "", body, typ)
	case 'E':
		t.answered++
		t.failed(sdkQuery, codeQueryFailed, h.text, nil, h.cut, "", "", body)
	case 'Z':
		if t.answered == 0 {
			return fmt.Errorf("%w: a Query ended without a result", errLostTrack)
		}
		// A Query runs in the unnamed statement and portal.
		t.dropStatement("")
		t.dropPortal("")
		t.pop()
		t.endTransaction(body)
	default:
		return fmt.Errorf("%w: the server answered a Query with %q", errLostTrack, typ)
	}
	return nil
}

func (t *tracker) answerFunction(h *request, typ byte, body []byte) error {
	switch {
	case typ == 'V' && t.answered == 0:
		t.answered++
		t.completed(sdkStatement, codeFunctionDone, h.text, h.params, h.cut, "", nil, typ)
	case typ == 'E' && t.answered == 0:
		t.answered++
		t.failed(sdkStatement, codeFunctionFailed, h.text, h.params, h.cut, "", "", body)
	case typ == 'Z' && t.answered > 0:
		t.pop()
		t.endTransaction(body)
	default:
		return fmt.Errorf("%w: the server answered a FunctionCall with %q", errLostTrack, typ)
	}
	return nil
}

func (t *tracker) answerSync(h *request, typ byte, body []byte) error {
	switch {
	case typ == 'Z':
		if h.soft && t.skipping && t.laterSyncAfterStatement() {
			// The Sync inside the COPY and a later one could both have
			// ended the skipping; which one did decides what ran.
			return fmt.Errorf("%w: a Sync sent inside a failed COPY", errLostTrack)
		}
		t.skipping = false
		t.forget()
		t.pop()
		t.endTransaction(body)
	case typ == 'E' && t.answered == 0:
		// Committing the implicit transaction failed (a deferred
		// constraint, a serialization failure): what ran since the last
		// ReadyForQuery is rolled back.
		t.answered++
		t.failed(sdkStatement, codeSyncFailed, "", nil, false, "", "the transaction ended by Sync did not commit; the statements since the previous ReadyForQuery were rolled back", body)
	default:
		return fmt.Errorf("%w: the server answered a Sync with %q", errLostTrack, typ)
	}
	return nil
}

// intend notes what a discarded Parse ("s"+name) or Bind ("p"+name)
// would have made. It counts in used, holds at most maxIntended entries
// and is emptied at the Sync.
func (t *tracker) intend(key string, p portal) {
	if t.intended == nil {
		t.intended = map[string]portal{}
	}
	if old, ok := t.intended[key]; ok {
		t.used -= portalCost(key, old)
		delete(t.intended, key)
	}
	if c := portalCost(key, p); len(t.intended) < maxIntended && t.used+c <= maxTracked {
		t.intended[key] = p
		t.used += c
	}
}

// forget empties intended.
func (t *tracker) forget() {
	for key, p := range t.intended {
		t.used -= portalCost(key, p)
	}
	t.intended = nil
}

// meant is the statement a discarded Bind would have used.
func (t *tracker) meant(name string) statement {
	if p, ok := t.intended["s"+name]; ok {
		return statement{text: p.text, cut: p.cut}
	}
	return t.statements[name]
}

// maxIntended bounds the discarded statements and portals remembered.
const maxIntended = 1024

func (t *tracker) answerExtended(h *request, typ byte, body []byte) error {
	if typ == 'E' {
		text, params, cut, target := t.subject(h)
		t.failed(sdkStatement, codeStatementFailed, text, params, cut, target, "", body)
		if h.typ == 'P' {
			// A failed Parse has dropped the unnamed statement; a
			// discarded Bind of it is recorded with the text it meant.
			if h.name == "" {
				t.dropStatement("")
			}
			t.intend("s"+h.name, portal{text: h.text, cut: h.cut})
		}
		t.skipping = true
		t.pop()
		return nil
	}
	switch {
	case h.typ == 'P' && typ == '1':
		t.setStatement(h.name, statement{text: h.text, cut: h.cut})
	case h.typ == 'B' && typ == '2':
		s := t.statements[h.stmt]
		t.setPortal(h.name, portal{text: s.text, params: h.params, cut: s.cut || h.cut})
	case h.typ == 'D' && typ == 't':
		return nil // RowDescription or NoData follows
	case h.typ == 'D' && (typ == 'T' || typ == 'n'):
	case h.typ == 'C' && typ == '3':
		if h.kind == 'S' {
			t.dropStatement(h.name)
		} else {
			t.dropPortal(h.name)
		}
	case h.typ == 'E' && (typ == 'H' || typ == 'd' || typ == 'c'):
		return nil // COPY TO STDOUT
	case h.typ == 'E' && (typ == 'G' || typ == 'W'):
		t.copyIn = true
		return nil
	case h.typ == 'E' && (typ == 'C' || typ == 'I' || typ == 's'):
		p, ok := t.portals[h.name]
		target := ""
		if !ok {
			target = "portal " + strconv.Quote(h.name)
		}
		t.completed(sdkStatement, codeStatementDone, p.text, p.params, p.cut, target, body, typ)
	default:
		return fmt.Errorf("%w: the server answered %q with %q", errLostTrack, h.typ, typ)
	}
	t.pop()
	return nil
}

// subject is what a failed extended-protocol message concerned.
func (t *tracker) subject(h *request) (text string, params []string, cut bool, target string) {
	switch h.typ {
	case 'P':
		return h.text, nil, h.cut, ""
	case 'B':
		s := t.statements[h.stmt]
		return s.text, h.params, s.cut || h.cut, ""
	case 'E':
		p, ok := t.portals[h.name]
		if !ok {
			target = "portal " + strconv.Quote(h.name)
		}
		return p.text, p.params, p.cut, target
	}
	if h.kind == 'S' {
		s := t.statements[h.name]
		return s.text, nil, s.cut, ""
	}
	p := t.portals[h.name]
	return p.text, p.params, p.cut, ""
}

// endTransaction notes a ReadyForQuery: outside a transaction block no
// portal is left.
func (t *tracker) endTransaction(body []byte) {
	t.copyIn = false
	if len(body) == 1 && body[0] == 'I' {
		for name := range t.portals {
			t.dropPortal(name)
		}
	}
}

// pop removes the head of the queue.
func (t *tracker) pop() { t.remove(0, 1) }

// remove removes queue[i:j].
func (t *tracker) remove(i, j int) {
	for _, r := range t.queue[i:j] {
		t.used -= r.cost()
	}
	if i == 0 {
		clear(t.queue[:j])
		t.queue = t.queue[j:]
		t.answered = 0
		return
	}
	n := copy(t.queue[i:], t.queue[j:])
	clear(t.queue[i+n:])
	t.queue = t.queue[:i+n]
}

func (t *tracker) setStatement(name string, s statement) {
	t.dropStatement(name)
	t.statements[name] = s
	t.used += 64 + len(name) + len(s.text)
}

func (t *tracker) dropStatement(name string) {
	if s, ok := t.statements[name]; ok {
		t.used -= 64 + len(name) + len(s.text)
		delete(t.statements, name)
	}
}

func (t *tracker) setPortal(name string, p portal) {
	t.dropPortal(name)
	t.portals[name] = p
	t.used += portalCost(name, p)
}

func (t *tracker) dropPortal(name string) {
	if p, ok := t.portals[name]; ok {
		t.used -= portalCost(name, p)
		delete(t.portals, name)
	}
}

func portalCost(name string, p portal) int {
	r := request{name: name, text: p.text, params: p.params}
	return r.cost()
}

// Event names, short.
const (
	sdkQuery     = sdk.AuditSessionQuery
	sdkStatement = sdk.AuditSessionStatement
)
