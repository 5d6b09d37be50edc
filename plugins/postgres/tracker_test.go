package postgres

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

// step is a client message (to the server) or a server message (to the
// client), in the order the relay sees them.
type step struct {
	client bool
	msg    interface{ Encode([]byte) ([]byte, error) }
}

func c(m interface{ Encode([]byte) ([]byte, error) }) step { return step{client: true, msg: m} }
func s(m interface{ Encode([]byte) ([]byte, error) }) step { return step{msg: m} }

func errResp(code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "ERROR", Code: code, Message: msg}
}

func done(tag string) *pgproto3.CommandComplete {
	return &pgproto3.CommandComplete{CommandTag: []byte(tag)}
}

var (
	idle   = &pgproto3.ReadyForQuery{TxStatus: 'I'}
	parsed = &pgproto3.ParseComplete{}
	bound  = &pgproto3.BindComplete{}
)

// runSteps passes each step through the relay of its side and returns
// the first relay error.
func runSteps(t *testing.T, tr *tracker, steps []step) error {
	t.Helper()
	for i, st := range steps {
		b, err := st.msg.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if st.client {
			err = relayFromClient(bytes.NewReader(b), &got, newBufferPool(), tr, func(int) {})
		} else {
			err = relayFromServer(bytes.NewReader(b), &got, newBufferPool(), tr, func(int) {})
		}
		if err != io.EOF {
			return fmt.Errorf("step %d (%T): %w", i, st.msg, err)
		}
		if !bytes.Equal(got.Bytes(), b) {
			t.Fatalf("step %d: the relay changed the message", i)
		}
	}
	return nil
}

// render is an event in short: code, outcome, text, parameters, tag and
// the error up to its first colon.
func render(e sdk.AuditEvent) string {
	out := e.Code + " " + map[bool]string{true: "ok", false: "fail"}[e.Success] + " " + shorten(e.Query)
	if len(e.Parameters) > 0 {
		ps := make([]string, len(e.Parameters))
		for i, p := range e.Parameters {
			ps[i] = shorten(p)
		}
		out += " [" + strings.Join(ps, ",") + "]"
	}
	if e.CommandTag != "" {
		out += " tag=" + e.CommandTag
	}
	if e.Error != "" {
		out += " err=" + strings.SplitN(e.Error, ":", 2)[0]
	}
	if e.Truncated {
		out += " truncated"
	}
	return out
}

// shorten keeps long texts readable: their start and size.
func shorten(s string) string {
	if len(s) <= 40 {
		return s
	}
	return fmt.Sprintf("%s…(%d)", s[:20], len(s))
}

func TestTrackerRecordsEveryOutcome(t *testing.T) {
	big := "delete from t where note = '" + strings.Repeat("x", 2<<20) + "'"
	hugeParam := bytes.Repeat([]byte("y"), 17<<20)
	tests := []struct {
		name  string
		steps []step
		want  []string
		err   error
	}{{
		name: "a Query pipelined with an extended DELETE: both recorded",
		steps: []step{
			c(&pgproto3.Query{String: "select 1"}),
			c(&pgproto3.Parse{Query: "delete from t"}), c(&pgproto3.Bind{}), c(&pgproto3.Execute{}), c(&pgproto3.Sync{}),
			s(&pgproto3.RowDescription{}), s(&pgproto3.DataRow{Values: [][]byte{[]byte("1")}}), s(done("SELECT 1")), s(idle),
			s(parsed), s(bound), s(done("DELETE 3")), s(idle),
		},
		want: []string{"TQ01 ok select 1 tag=SELECT 1", "TS01 ok delete from t tag=DELETE 3"},
	}, {
		name: "a failed simple query is recorded with its error",
		steps: []step{
			c(&pgproto3.Query{String: "select 1/0"}),
			s(errResp("22012", "division by zero")), s(idle),
		},
		want: []string{"TQ02 fail select 1/0 err=22012"},
	}, {
		name: "a multi-statement Query: one event per statement, the failing one last",
		steps: []step{
			c(&pgproto3.Query{String: "insert a; insert b; select 1/0; insert c"}),
			s(done("INSERT 0 1")), s(done("INSERT 0 1")), s(errResp("22012", "division by zero")), s(idle),
		},
		want: []string{
			"TQ01 ok insert a; insert b; select 1/0; insert c tag=INSERT 0 1",
			"TQ01 ok insert a; insert b; select 1/0; insert c tag=INSERT 0 1",
			"TQ02 fail insert a; insert b; select 1/0; insert c err=22012",
		},
	}, {
		name:  "an empty Query",
		steps: []step{c(&pgproto3.Query{}), s(&pgproto3.EmptyQueryResponse{}), s(idle)},
		want:  []string{"TQ01 ok "},
	}, {
		name: "FunctionCall is recorded with its OID and arguments",
		steps: []step{
			c(&pgproto3.FunctionCall{Function: 2630, ArgFormatCodes: []uint16{0}, Arguments: [][]byte{[]byte("/etc/passwd"), nil}}),
			s(&pgproto3.FunctionCallResponse{Result: []byte("root:x")}), s(idle),
			c(&pgproto3.FunctionCall{Function: 2630, Arguments: [][]byte{[]byte("/nope")}}),
			s(errResp("58P01", "could not open file")), s(idle),
		},
		want: []string{
			"TF01 ok -- FunctionCall: function OID 2630 [/etc,NULL] truncated",
			"TF02 fail -- FunctionCall: function OID 2630 [/nop] err=58P01 truncated",
		},
	}, {
		name: "after an error, Executes until the Sync are recorded as not executed",
		steps: []step{
			c(&pgproto3.Parse{Name: "ok", Query: "insert into t values ($1)"}),
			c(&pgproto3.Bind{PreparedStatement: "ok", Parameters: [][]byte{[]byte("1")}}), c(&pgproto3.Execute{}),
			c(&pgproto3.Parse{Query: "select boom"}), c(&pgproto3.Bind{}), c(&pgproto3.Execute{}),
			c(&pgproto3.Bind{PreparedStatement: "ok", Parameters: [][]byte{[]byte("2")}}), c(&pgproto3.Execute{}),
			c(&pgproto3.Query{String: "delete from t"}),
			c(&pgproto3.FunctionCall{Function: 7}),
			c(&pgproto3.Sync{}),
			c(&pgproto3.Bind{PreparedStatement: "ok", Parameters: [][]byte{[]byte("3")}}), c(&pgproto3.Execute{}), c(&pgproto3.Sync{}),
			s(parsed), s(bound), s(done("INSERT 0 1")),
			s(errResp("42703", `column "boom" does not exist`)), s(idle),
			s(bound), s(done("INSERT 0 1")), s(idle),
		},
		want: []string{
			"TS01 ok insert into t values ($1) [1] tag=INSERT 0 1",
			"TS02 fail select boom err=42703",
			"TS03 fail select boom err=not executed",
			"TS03 fail insert into t values ($1) [2] err=not executed",
			"TQ03 fail delete from t err=not executed",
			"TF03 fail -- FunctionCall: function OID 7 err=not executed",
			"TS01 ok insert into t values ($1) [3] tag=INSERT 0 1",
		},
	}, {
		name: "a failed Bind and Describe, a Close, a suspended portal",
		steps: []step{
			c(&pgproto3.Parse{Name: "q", Query: "select g from generate_series(1, 3) g"}),
			c(&pgproto3.Describe{ObjectType: 'S', Name: "q"}),
			c(&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "q"}), c(&pgproto3.Execute{Portal: "p", MaxRows: 2}),
			c(&pgproto3.Execute{Portal: "p"}), c(&pgproto3.Close{ObjectType: 'S', Name: "q"}), c(&pgproto3.Sync{}),
			c(&pgproto3.Bind{PreparedStatement: "q"}), c(&pgproto3.Sync{}),
			c(&pgproto3.Describe{ObjectType: 'P', Name: "gone"}), c(&pgproto3.Sync{}),
			s(parsed), s(&pgproto3.ParameterDescription{}), s(&pgproto3.RowDescription{}), s(bound),
			s(&pgproto3.DataRow{}), s(&pgproto3.DataRow{}), s(&pgproto3.PortalSuspended{}),
			s(&pgproto3.DataRow{}), s(done("SELECT 1")), s(&pgproto3.CloseComplete{}), s(idle),
			s(errResp("26000", `prepared statement "q" does not exist`)), s(idle),
			s(errResp("34000", `portal "gone" does not exist`)), s(idle),
		},
		want: []string{
			"TS01 ok select g from generate_series(1, 3) g",
			"TS01 ok select g from generate_series(1, 3) g tag=SELECT 1",
			"TS02 fail  err=26000",
			"TS02 fail  err=34000",
		},
	}, {
		name: "a Query larger than the audited text is cut and marked, and still correlated",
		steps: []step{
			c(&pgproto3.Query{String: big}),
			c(&pgproto3.Parse{Query: big}), c(&pgproto3.Bind{}), c(&pgproto3.Execute{}), c(&pgproto3.Sync{}),
			s(done("DELETE 1")), s(idle), s(parsed), s(bound), s(done("DELETE 2")), s(idle),
		},
		want: []string{
			fmt.Sprintf("TQ01 ok %s tag=DELETE 1 truncated", shorten(big[:maxAuditedText])),
			fmt.Sprintf("TS01 ok %s tag=DELETE 2 truncated", shorten(big[:maxAuditedText])),
		},
	}, {
		name: "a Bind of 17 MiB is decoded as it streams: its statement is the right one",
		steps: []step{
			c(&pgproto3.Parse{Query: "select 1"}), c(&pgproto3.Bind{}), c(&pgproto3.Execute{}),
			c(&pgproto3.Parse{Name: "d", Query: "delete from t where v = $1"}),
			c(&pgproto3.Bind{PreparedStatement: "d", Parameters: [][]byte{hugeParam, []byte("z")}}), c(&pgproto3.Execute{}),
			c(&pgproto3.Sync{}),
			s(parsed), s(bound), s(done("SELECT 1")), s(parsed), s(bound), s(done("DELETE 0")), s(idle),
		},
		want: []string{
			"TS01 ok select 1 tag=SELECT 1",
			"TS01 ok delete from t where v = $1 [yyyy,z] tag=DELETE 0 truncated",
		},
	}, {
		name: "COPY FROM STDIN in a Query, and libpq's Syncs around an extended COPY",
		steps: []step{
			c(&pgproto3.Query{String: "copy t from stdin"}),
			s(&pgproto3.CopyInResponse{}),
			c(&pgproto3.CopyData{Data: []byte("1\n")}), c(&pgproto3.CopyDone{}),
			s(done("COPY 1")), s(idle),
			c(&pgproto3.Parse{Query: "copy t from stdin"}), c(&pgproto3.Bind{}), c(&pgproto3.Execute{}), c(&pgproto3.Sync{}),
			s(parsed), s(bound), s(&pgproto3.CopyInResponse{}),
			c(&pgproto3.CopyData{Data: []byte("2\n")}), c(&pgproto3.CopyDone{}), c(&pgproto3.Sync{}),
			s(done("COPY 1")), s(idle),
		},
		want: []string{"TQ01 ok copy t from stdin tag=COPY 1", "TS01 ok copy t from stdin tag=COPY 1"},
	}, {
		name: "a Query pipelined into a COPY is refused with it, and recorded so",
		steps: []step{
			c(&pgproto3.Query{String: "copy t from stdin"}),
			c(&pgproto3.CopyData{Data: []byte("1\n")}), c(&pgproto3.Query{String: "delete from t"}),
			s(&pgproto3.CopyInResponse{}),
			s(errResp("08P01", "unexpected message type 0x51 during COPY from stdin")), s(idle),
		},
		want: []string{
			"TQ02 fail copy t from stdin err=08P01",
			"TQ03 fail delete from t err=not executed",
		},
	}, {
		name: "a Query after a COPY with bad data runs, and a Sync inside it gets its own answer or none",
		steps: []step{
			c(&pgproto3.Query{String: "copy t from stdin"}),
			c(&pgproto3.CopyData{Data: []byte("bad\n")}), c(&pgproto3.Sync{}), c(&pgproto3.CopyDone{}),
			c(&pgproto3.Query{String: "delete from t"}),
			s(&pgproto3.CopyInResponse{}),
			s(errResp("22P02", "invalid input syntax for type integer")), s(idle),
			s(done("DELETE 0")), s(idle),
			c(&pgproto3.Query{String: "copy t from stdin"}),
			c(&pgproto3.CopyData{Data: []byte("bad\n")}), c(&pgproto3.Sync{}),
			s(&pgproto3.CopyInResponse{}),
			s(errResp("22P02", "invalid input syntax for type integer")), s(idle), s(idle),
		},
		want: []string{
			"TQ02 fail copy t from stdin err=22P02",
			"TQ01 ok delete from t tag=DELETE 0",
			"TQ02 fail copy t from stdin err=22P02",
		},
	}, {
		name: "a CopyBoth stream, as replication runs it, ends with the client's CopyDone",
		steps: []step{
			c(&pgproto3.Query{String: "START_REPLICATION SLOT s LOGICAL 0/0"}),
			s(&pgproto3.CopyBothResponse{}), s(&pgproto3.CopyData{Data: []byte("w")}),
			c(&pgproto3.CopyData{Data: []byte("r")}), s(&pgproto3.CopyDone{}), c(&pgproto3.CopyDone{}),
			s(done("COPY 0")), s(idle),
		},
		want: []string{"TQ01 ok START_REPLICATION SLOT s LOGICAL 0/0 tag=COPY 0"},
	}, {
		name: "a commit that fails at Sync is recorded",
		steps: []step{
			c(&pgproto3.Parse{Query: "insert into d values (1)"}), c(&pgproto3.Bind{}), c(&pgproto3.Execute{}), c(&pgproto3.Sync{}),
			s(parsed), s(bound), s(done("INSERT 0 1")), s(errResp("23503", "violates foreign key constraint")), s(idle),
		},
		want: []string{
			"TS01 ok insert into d values (1) tag=INSERT 0 1",
			"TS04 fail  err=23503",
		},
	}, {
		name: "notices and parameter changes pass anywhere",
		steps: []step{
			c(&pgproto3.Query{String: "set x = 1"}),
			s(&pgproto3.NoticeResponse{Message: "hi"}), s(&pgproto3.ParameterStatus{Name: "x", Value: "1"}),
			s(done("SET")), s(&pgproto3.NotificationResponse{}), s(idle),
		},
		want: []string{"TQ01 ok set x = 1 tag=SET"},
	}, {
		name:  "an answer to nothing ends the session",
		steps: []step{s(done("DELETE 1"))},
		err:   errLostTrack,
	}, {
		name: "an answer that cannot be placed records what was pending as unknown",
		steps: []step{
			c(&pgproto3.Parse{Query: "delete from t"}), c(&pgproto3.Bind{}), c(&pgproto3.Execute{}), c(&pgproto3.Sync{}),
			s(parsed), s(idle),
		},
		want: []string{"TK01 fail delete from t err=outcome unknown"},
		err:  errLostTrack,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := &recordingHost{}
			tr := newTracker(testAudit(host), 4)
			err := runSteps(t, tr, tt.steps)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("relay error %v, want %v", err, tt.err)
			}
			var got []string
			for _, e := range host.events {
				got = append(got, render(e))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.err == nil && (len(tr.queue) != 0 || tr.skipping || tr.copyIn) {
				t.Fatalf("the tracker did not settle: queue %d, skipping %v, copy %v", len(tr.queue), tr.skipping, tr.copyIn)
			}
		})
	}
}

// TestTrackerRefusesUnboundedPipelines: a client that sends more than
// maxTracked of statements without reading answers is refused, and the
// refused message never reaches the server whole.
func TestTrackerRefusesUnboundedPipelines(t *testing.T) {
	tr := newTracker(testAudit(&recordingHost{}), 4)
	q := &pgproto3.Query{String: strings.Repeat("x", 1<<20)}
	b, err := q.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	var sent bytes.Buffer
	err = relayFromClient(bytes.NewReader(bytes.Repeat(b, 100)), &sent, newBufferPool(), tr, func(int) {})
	if !errors.Is(err, errTooMuchPending) {
		t.Fatalf("relay returned %v", err)
	}
	if whole := sent.Len() / len(b); whole >= 100 || sent.Len()%len(b) != len(b)-1 {
		t.Fatalf("the server got %d bytes: %d whole messages and %d bytes of the refused one", sent.Len(), whole, sent.Len()%len(b))
	}
	if tr.used > maxTracked {
		t.Fatalf("the tracker holds %d bytes", tr.used)
	}
}

// TestRelayEndsSessionsItCannotFollow runs the audited relay over TCP:
// an answer the tracker cannot place ends the session with SQLSTATE 08P01
// and records the pending statement as of unknown outcome; a client that
// pipelines past maxTracked without reading is ended with 54000, and the
// server never receives the message that crossed the limit whole.
func TestRelayEndsSessionsItCannotFollow(t *testing.T) {
	deleteAll := encode(t, &pgproto3.Parse{Query: "delete from t"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	query, err := (&pgproto3.Query{String: strings.Repeat("x", 1<<20)}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		client   []byte
		server   []byte
		code     string
		event    string
		received func(int) bool
	}{
		{
			name:     "an answer out of place",
			client:   deleteAll,
			server:   encode(t, &pgproto3.ParseComplete{}, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
			code:     stateProtocolViolation,
			event:    "TK01 fail delete from t err=outcome unknown",
			received: func(n int) bool { return n == len(deleteAll) },
		},
		{
			name:     "a pipeline nobody reads",
			client:   bytes.Repeat(query, 70),
			code:     stateProgramLimitExceeded,
			received: func(n int) bool { return n < 70*len(query) && n%len(query) == len(query)-1 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, relayClient := tcpPair(t)
			relayUpstream, server := tcpPair(t)
			host := &recordingHost{}
			tr := newTracker(testAudit(host), 16)
			relayed := make(chan struct{})
			go func() {
				relayAudited(tr, newBufferPool(), func(int) {}, func(int) {}, relayClient, relayUpstream, relayUpstream, noEnd)
				close(relayed)
			}()
			received := make(chan int, 1)
			go func() {
				// The server reads what it is sent, answers once it has
				// read the client's first messages, and closes at EOF.
				var got int
				buf := make([]byte, 64<<10)
				answered := false
				for {
					n, err := server.Read(buf)
					got += n
					if !answered && got >= len(deleteAll) && tt.server != nil {
						_, _ = server.Write(tt.server)
						answered = true
					}
					if err != nil {
						break
					}
				}
				_ = server.Close()
				received <- got
			}()
			go func() {
				_, _ = app.Write(tt.client)
				_ = app.(*net.TCPConn).CloseWrite()
			}()
			_ = app.SetReadDeadline(time.Now().Add(time.Minute))
			answer, _ := io.ReadAll(app)
			<-relayed
			if n := <-received; !tt.received(n) {
				t.Fatalf("the server received %d bytes", n)
			}
			var code string
			for rest := answer; len(rest) >= 5; {
				n := int(binary.BigEndian.Uint32(rest[1:5])) + 1
				if rest[0] == 'E' && n <= len(rest) {
					code = errorFields(rest[5:n]).code
				}
				rest = rest[min(n, len(rest)):]
			}
			if code != tt.code {
				t.Fatalf("the client got %q, want an ErrorResponse %s", answer, tt.code)
			}
			var got []string
			for _, e := range host.events {
				got = append(got, render(e))
			}
			if tt.event != "" && (len(got) != 1 || got[0] != tt.event) {
				t.Fatalf("events %q, want %q", got, tt.event)
			}
		})
	}
}
