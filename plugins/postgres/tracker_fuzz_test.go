package postgres

import (
	"bytes"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/jackc/pgproto3/v2"
)

// Message types the fuzzer sends, by direction.
var (
	fuzzClientTypes = []byte{'Q', 'P', 'B', 'E', 'D', 'C', 'S', 'H', 'F', 'd', 'c', 'f', 'X', 'p'}
	fuzzServerTypes = []byte{'1', '2', '3', 'C', 'D', 'E', 'I', 's', 't', 'T', 'n', 'Z', 'G', 'H', 'W', 'V', 'N', 'S', 'A', 'c', 'd', 'K'}
)

// FuzzTracker feeds the tracker arbitrary client and server messages in
// an arbitrary interleaving. It must never panic, and after every message
// its accounting must hold: what it says it holds is what it holds, never
// negative nor past its bound, no more queued than was sent, nothing
// queued once it lost track, and every event either a success without an
// error or a failure with one. Each client body also decodes the same
// whole and streamed in small pieces.
func FuzzTracker(f *testing.F) {
	for _, seed := range [][]byte{
		fuzzSeed(f, true, &pgproto3.Query{String: "select 1"}, false, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, false, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
		fuzzSeed(f, true, &pgproto3.Parse{Name: "s", Query: "delete from t"}, true, &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("1")}},
			true, &pgproto3.Execute{}, true, &pgproto3.Sync{}, false, &pgproto3.ParseComplete{}, false, &pgproto3.ErrorResponse{Code: "42P01"}, false, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
		fuzzSeed(f, true, &pgproto3.Query{String: "copy t from stdin"}, true, &pgproto3.Sync{}, true, &pgproto3.CopyDone{}, false, &pgproto3.CopyInResponse{},
			false, &pgproto3.ErrorResponse{Code: "22P02"}, false, &pgproto3.ReadyForQuery{TxStatus: 'I'}, false, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
		fuzzSeed(f, true, &pgproto3.FunctionCall{Function: 1, Arguments: [][]byte{[]byte("x")}}, false, &pgproto3.FunctionCallResponse{}, false, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		host := &recordingHost{}
		tr := newTracker(testAudit(host), 8)
		sent := 0
		for len(data) >= 2 {
			op, n := data[0], int(data[1])
			data = data[2:]
			n = min(n, len(data))
			body := data[:n]
			data = data[n:]
			if op&0x80 == 0 {
				typ := fuzzClientTypes[int(op)%len(fuzzClientTypes)]
				whole := decodeRequest(typ, wholeFields(body), tr.maxParam)
				streamed := decodeRequest(typ, streamFieldsWindow(iotest.OneByteReader(bytes.NewReader(body)), 3), tr.maxParam)
				if !reflect.DeepEqual(whole, streamed) {
					t.Fatalf("%q %x decodes as %+v whole and %+v streamed", typ, body, whole, streamed)
				}
				if tr.fromClient(whole) == nil {
					sent++
				}
			} else {
				typ := fuzzServerTypes[int(op&0x7f)%len(fuzzServerTypes)]
				before := tr.lost
				err := tr.fromServer(typ, body)
				if before != nil && err == nil {
					t.Fatal("the tracker answered after it lost track")
				}
			}
			checkTracker(t, tr, sent)
		}
		for _, e := range host.events {
			if e.Success != (e.Error == "") {
				t.Fatalf("event %s: success %v with error %q", e.Code, e.Success, e.Error)
			}
		}
	})
}

func fuzzSeed(f *testing.F, steps ...any) []byte {
	var out []byte
	for i := 0; i < len(steps); i += 2 {
		client := steps[i].(bool)
		b, err := steps[i+1].(interface{ Encode([]byte) ([]byte, error) }).Encode(nil)
		if err != nil {
			f.Fatal(err)
		}
		typ, body := b[0], b[5:]
		table := fuzzServerTypes
		op := byte(0x80)
		if client {
			table, op = fuzzClientTypes, 0
		}
		op |= byte(bytes.IndexByte(table, typ))
		out = append(out, op, byte(len(body)))
		out = append(out, body[:min(len(body), 255)]...)
	}
	return out
}

// checkTracker verifies the tracker's accounting.
func checkTracker(t *testing.T, tr *tracker, sent int) {
	t.Helper()
	held := 0
	for _, r := range tr.queue {
		held += r.cost()
	}
	for name, s := range tr.statements {
		held += 64 + len(name) + len(s.text)
	}
	for name, p := range tr.portals {
		held += portalCost(name, p)
	}
	for key, p := range tr.intended {
		held += portalCost(key, p)
	}
	switch {
	case held != tr.used:
		t.Fatalf("the tracker counts %d bytes and holds %d", tr.used, held)
	case tr.used < 0 || tr.used > maxTracked+maxIntended*portalCost("", portal{}):
		t.Fatalf("the tracker holds %d bytes", tr.used)
	case len(tr.queue) > sent:
		t.Fatalf("%d messages queued of %d sent", len(tr.queue), sent)
	case tr.lost != nil && len(tr.queue) > 0:
		t.Fatalf("%d messages queued after the tracker lost track", len(tr.queue))
	case tr.answered < 0 || len(tr.intended) > maxIntended:
		t.Fatalf("answered %d, intended %d", tr.answered, len(tr.intended))
	}
}
