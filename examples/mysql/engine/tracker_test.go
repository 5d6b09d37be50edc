package engine

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
)

// Packets of answers, as a server sends them.
func okPacket(affected uint64, status uint16) []byte {
	return (&wire.OK{AffectedRows: affected, Status: status}).Append(nil)
}

// okEOF is the OK packet that ends rows under ClientDeprecateEOF.
func okEOF(status uint16) []byte {
	p := okPacket(0, status)
	p[0] = 0xfe
	return p
}

func eofPacket(status uint16) []byte {
	return binary.LittleEndian.AppendUint16([]byte{0xfe, 0, 0}, status)
}

func errPacket(code uint16, msg string) []byte {
	return (&wire.Error{Code: code, SQLState: "42000", Message: msg}).Append(nil)
}

func prepareOK(id uint32, columns, params uint16) []byte {
	p := binary.LittleEndian.AppendUint32([]byte{0}, id)
	p = binary.LittleEndian.AppendUint16(p, columns)
	p = binary.LittleEndian.AppendUint16(p, params)
	return append(p, 0, 0, 0)
}

var (
	colDef = []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'a', 0, 0x0c, 0x3f, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0}
	row    = []byte{1, '1'}
)

func query(sql string) []byte { return append([]byte{wire.ComQuery}, sql...) }

// execute is a COM_STMT_EXECUTE of a statement of nParams parameters;
// types are sent when not nil.
func execute(id uint32, nParams int, types []byte, values []byte) []byte {
	p := binary.LittleEndian.AppendUint32([]byte{wire.ComStmtExecute}, id)
	p = append(p, 0, 1, 0, 0, 0)
	if nParams == 0 {
		return p
	}
	p = append(p, make([]byte, (nParams+7)/8)...)
	if types == nil {
		p = append(p, 0)
	} else {
		p = append(append(p, 1), types...)
	}
	return append(p, values...)
}

func resultSet(deprecateEOF bool, rows int, final []byte) [][]byte {
	ps := [][]byte{{1}, colDef}
	if !deprecateEOF {
		ps = append(ps, eofPacket(0))
	}
	for range rows {
		ps = append(ps, row)
	}
	return append(ps, final)
}

func str(s string) *string { return &s }

// step is one thing that happens on the wire.
type step struct {
	client []byte   // a command from the client
	server [][]byte // answer packets from the server
}

var changeUser = &wire.Error{Code: 1047, SQLState: "08S01", Message: "keyway does not relay command 0x11, which it cannot audit"}

func TestTrackerOutcomes(t *testing.T) {
	const more = wire.StatusMoreResultsExist
	insert2 := "insert into t values (?, ?)"
	tests := []struct {
		name         string
		deprecateEOF bool
		steps        []step
		want         []outcome
		refused      []byte // the command refused, if one is
	}{
		{name: "a write", steps: []step{{client: query("delete from t"), server: [][]byte{okPacket(3, 2)}}},
			want: []outcome{{Kind: "query", Text: "delete from t", Affected: 3, Results: 1}}},
		{name: "a result set with EOF packets", steps: []step{{client: query("select 1"), server: resultSet(false, 3, eofPacket(2))}},
			want: []outcome{{Kind: "query", Text: "select 1", Rows: 3, Results: 1}}},
		{name: "a result set ended by OK", deprecateEOF: true, steps: []step{{client: query("select 1"), server: resultSet(true, 2, okEOF(2))}},
			want: []outcome{{Kind: "query", Text: "select 1", Rows: 2, Results: 1}}},
		{name: "a failed query", steps: []step{{client: query("select 1/"), server: [][]byte{errPacket(1064, "syntax")}}},
			want: []outcome{{Kind: "query", Text: "select 1/", Err: &wire.Error{Code: 1064, SQLState: "42000", Message: "syntax"}}}},
		{name: "several statements in one query", steps: []step{{client: query("select 1; delete from t; select 2"),
			server: append(append(resultSet(false, 1, eofPacket(more)), okPacket(4, more)), resultSet(false, 2, eofPacket(2))...)}},
			want: []outcome{{Kind: "query", Text: "select 1; delete from t; select 2", Rows: 3, Affected: 4, Results: 3}}},
		{name: "an error ends several statements", steps: []step{{client: query("delete from t; drop table nope; select 1"),
			server: [][]byte{okPacket(1, more), errPacket(1051, "Unknown table")}}},
			want: []outcome{{Kind: "query", Text: "delete from t; drop table nope; select 1", Affected: 1, Results: 1, Err: &wire.Error{Code: 1051, SQLState: "42000", Message: "Unknown table"}}}},
		{name: "pipelined queries", steps: []step{{client: query("select 1")}, {client: query("delete from t")},
			{server: resultSet(true, 1, okEOF(2))}, {server: [][]byte{okPacket(5, 2)}}}, deprecateEOF: true,
			want: []outcome{{Kind: "query", Text: "select 1", Rows: 1, Results: 1}, {Kind: "query", Text: "delete from t", Affected: 5, Results: 1}}},
		{name: "prepare and execute with parameters", steps: []step{
			{client: append([]byte{wire.ComStmtPrepare}, insert2...), server: [][]byte{prepareOK(7, 0, 2), colDef, colDef, eofPacket(2)}},
			{client: execute(7, 2, []byte{wire.TypeLong, 0, wire.TypeVarString, 0}, []byte{42, 0, 0, 0, 2, 'h', 'i'}), server: [][]byte{okPacket(1, 2)}},
			{client: execute(7, 2, nil, []byte{43, 0, 0, 0, 2, 'h', 'o'}), server: [][]byte{errPacket(1062, "Duplicate entry")}}},
			want: []outcome{
				{Kind: "execute", Text: insert2, Statement: 7, Params: []*string{str("42"), str("hi")}, Affected: 1, Results: 1},
				{Kind: "execute", Text: insert2, Statement: 7, Params: []*string{str("43"), str("ho")}, Err: &wire.Error{Code: 1062, SQLState: "42000", Message: "Duplicate entry"}},
			}},
		{name: "prepare and execute pipelined, the last prepared statement", deprecateEOF: true, steps: []step{
			{client: append([]byte{wire.ComStmtPrepare}, "select ?"...)},
			{client: execute(0xffffffff, 1, []byte{wire.TypeLongLong, 0}, []byte{9, 0, 0, 0, 0, 0, 0, 0})},
			{server: [][]byte{prepareOK(3, 1, 1), colDef, colDef}},
			{server: resultSet(true, 1, okEOF(2))}},
			want: []outcome{{Kind: "execute", Text: "select ?", Statement: 3, Params: []*string{str("9")}, Rows: 1, Results: 1}}},
		{name: "a failed prepare, and an execution of a closed statement", steps: []step{
			{client: append([]byte{wire.ComStmtPrepare}, "selec ?"...), server: [][]byte{errPacket(1064, "syntax")}},
			{client: append([]byte{wire.ComStmtPrepare}, "select 1"...), server: [][]byte{prepareOK(1, 1, 0), colDef, eofPacket(2)}},
			{client: binary.LittleEndian.AppendUint32([]byte{wire.ComStmtClose}, 1)},
			{client: execute(1, 0, nil, nil), server: [][]byte{errPacket(1243, "Unknown prepared statement handler")}}},
			want: []outcome{
				{Kind: "prepare", Text: "selec ?", Err: &wire.Error{Code: 1064, SQLState: "42000", Message: "syntax"}},
				{Kind: "execute", Statement: 1, Err: &wire.Error{Code: 1243, SQLState: "42000", Message: "Unknown prepared statement handler"}},
			}},
		{name: "unaudited commands keep their place", steps: []step{
			{client: []byte{wire.ComPing}}, {client: query("select 1")},
			{server: [][]byte{okPacket(0, 2)}}, {server: resultSet(false, 1, eofPacket(2))}},
			want: []outcome{{Kind: "query", Text: "select 1", Rows: 1, Results: 1}}},
		{name: "COM_CHANGE_USER is refused", steps: []step{{client: []byte{wire.ComChangeUser, 'r', 'o', 'o', 't', 0}}}, refused: []byte{wire.ComChangeUser},
			want: []outcome{{Kind: "refused", Text: "command 0x11", Err: changeUser}}},
		{name: "a refusal waits for the answers before it", steps: []step{
			{client: query("select 1")}, {client: []byte{wire.ComChangeUser, 0}}, {client: query("delete from t")},
			{server: resultSet(true, 1, okEOF(2))}, {server: [][]byte{okPacket(1, 2)}}}, deprecateEOF: true,
			refused: []byte{0},
			want: []outcome{{Kind: "query", Text: "select 1", Rows: 1, Results: 1}, {Kind: "refused", Text: "command 0x11", Err: changeUser},
				{Kind: "query", Text: "delete from t", Affected: 1, Results: 1}}},
		{name: "a server-side cursor is refused", steps: []step{
			{client: append([]byte{wire.ComStmtPrepare}, "select 1"...), server: [][]byte{prepareOK(1, 1, 0), colDef, eofPacket(2)}},
			{client: func() []byte { p := execute(1, 0, nil, nil); p[5] = 1; return p }()}}, refused: []byte{wire.ComStmtExecute},
			want: []outcome{{Kind: "refused", Text: "command 0x17", Err: &wire.Error{Code: 1235, SQLState: "42000", Message: "keyway does not relay server-side cursors; fetch the whole result instead"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(tt.deprecateEOF, 100)
			var got []outcome
			var refused []byte
			for _, s := range tt.steps {
				if s.client != nil {
					r, done, err := tr.fromClient(s.client, false)
					if err != nil {
						t.Fatal(err)
					}
					if r != nil {
						refused = append(refused, s.client[0])
					}
					for _, o := range done {
						got = append(got, *o)
					}
				}
				for _, p := range s.server {
					done, replies := tr.fromServer(p, len(p))
					for _, o := range done {
						got = append(got, *o)
					}
					for range replies {
						refused = append(refused, 0)
					}
				}
			}
			if !reflect.DeepEqual(refused, tt.refused) {
				t.Fatalf("refused commands %v, want %v", refused, tt.refused)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d outcomes, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("outcome %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
			if len(tr.pending) != 0 {
				t.Errorf("%d commands still wait for an answer", len(tr.pending))
			}
		})
	}
}

func TestTrackerCapsParameters(t *testing.T) {
	tr := newTracker(true, 4)
	tr.fromClient(append([]byte{wire.ComStmtPrepare}, "select ?"...), false)
	for _, p := range [][]byte{prepareOK(1, 0, 1), colDef} {
		tr.fromServer(p, len(p))
	}
	tr.fromClient(execute(1, 1, []byte{wire.TypeVarString, 0}, append([]byte{10}, "0123456789"...)), false)
	ok := okPacket(0, 2)
	out, _ := tr.fromServer(ok, len(ok))
	if len(out) != 1 || len(out[0].Params) != 1 || *out[0].Params[0] != "0123" || !out[0].Truncated {
		t.Fatalf("outcomes %+v", out)
	}
}

func TestTrackerRefusesUnknownCommands(t *testing.T) {
	tr := newTracker(false, 0)
	r, _, _ := tr.fromClient([]byte{wire.ComBinlogDump, 0, 0}, false)
	if r == nil || !strings.Contains(r.Message, "0x12") {
		t.Fatalf("a binlog dump was not refused: %+v", r)
	}
	if r, _, _ := tr.fromClient(nil, false); r == nil {
		t.Fatal("an empty command was not refused")
	}
}

func TestTrackerRecordsUnreadableParameters(t *testing.T) {
	tr := newTracker(true, 0)
	tr.fromClient(append([]byte{wire.ComStmtPrepare}, "select ?"...), false)
	for _, p := range [][]byte{prepareOK(1, 0, 1), colDef} {
		tr.fromServer(p, len(p))
	}
	// A LONGLONG parameter with two of its eight bytes.
	tr.fromClient(execute(1, 1, []byte{wire.TypeLongLong, 0}, []byte{1, 2}), false)
	errp := errPacket(1210, "Incorrect arguments")
	out, _ := tr.fromServer(errp, len(errp))
	if len(out) != 1 || out[0].Text != "select ?" || !strings.Contains(out[0].ParamsError, "parameter 1") || out[0].Err == nil {
		t.Fatalf("outcomes %+v", out)
	}
}

func TestTrackerBoundsPipelining(t *testing.T) {
	tr := newTracker(true, 0)
	for i := range maxPending {
		if _, _, err := tr.fromClient(query("select 1"), false); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	if _, _, err := tr.fromClient(query("select 1"), false); err == nil {
		t.Fatal("a command past the bound was taken")
	}
}
