package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestPacketsSplitAndJoin(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		physical int
	}{
		{"empty", 0, 1},
		{"small", 10, 1},
		{"one below a chunk", maxChunk - 1, 1},
		{"exactly a chunk: an empty packet follows", maxChunk, 2},
		{"a chunk and a bit", maxChunk + 5, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{'x'}, tt.size)
			buf, next := AppendPacket(nil, 3, payload)
			if want := byte(3 + tt.physical); next != want {
				t.Fatalf("next sequence %d, want %d", next, want)
			}
			if want := tt.size + 4*tt.physical; len(buf) != want {
				t.Fatalf("%d bytes written, want %d", len(buf), want)
			}
			r := NewReader(bytes.NewReader(buf))
			r.Limit = maxChunk + 10
			p, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if p.Seq != 3 || !bytes.Equal(p.Payload, payload) || r.LastSeq != next-1 {
				t.Fatalf("read seq %d, %d bytes, last seq %d", p.Seq, len(p.Payload), r.LastSeq)
			}
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the packet: %v, want EOF", err)
			}
		})
	}
}

func TestReaderRefusesWhatItCannotRead(t *testing.T) {
	big, _ := AppendPacket(nil, 0, make([]byte, 100))
	tests := []struct {
		name  string
		input []byte
		limit int
		want  error
	}{
		{"over the limit", big, 99, ErrTooLarge},
		{"cut in the header", []byte{5, 0}, 0, io.ErrUnexpectedEOF},
		{"cut in the payload", []byte{5, 0, 0, 0, 'a'}, 0, io.ErrUnexpectedEOF},
		{"a chunk without its continuation", append([]byte{0xff, 0xff, 0xff, 0}, make([]byte, maxChunk)...), maxChunk + 1, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.input))
			r.Limit = tt.limit
			if _, err := r.Next(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLengthEncodedIntegers(t *testing.T) {
	for _, v := range []uint64{0, 250, 251, 1<<16 - 1, 1 << 16, 1<<24 - 1, 1 << 24, 1<<64 - 1} {
		b := appendLenencInt(nil, v)
		d := decoder{b: b}
		got, null := d.lenencInt()
		if d.err != nil || null || got != v || len(d.b) != 0 {
			t.Errorf("%d encoded as %x read back as %d (null %v, err %v)", v, b, got, null, d.err)
		}
	}
	d := decoder{b: []byte{0xfb}}
	if _, null := d.lenencInt(); !null {
		t.Error("0xfb is not read as NULL")
	}
	d = decoder{b: []byte{0xfc, 1}}
	if d.lenencInt(); d.err == nil {
		t.Error("a cut two-byte integer was read")
	}
}

func TestGreetingRoundTrip(t *testing.T) {
	g := &Greeting{
		ServerVersion: "5.5.5-10.11.19-MariaDB", ConnectionID: 42,
		AuthData:     []byte("abcdefghijklmnopqrst"),
		Capabilities: Supported, Charset: 45, Status: 2, AuthPlugin: "mysql_native_password",
	}
	got, err := ParseGreeting(g.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, g) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, g)
	}
}

func TestGreetingErrors(t *testing.T) {
	refusal := (&Error{Code: 1130, SQLState: "HY000", Message: "Host is not allowed"}).Append(nil)
	_, err := ParseGreeting(refusal)
	var e *Error
	if !errors.As(err, &e) || e.Code != 1130 {
		t.Fatalf("an ERR greeting gave %v", err)
	}
	if _, err := ParseGreeting([]byte{9, 'x', 0}); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("protocol 9: %v", err)
	}
	if _, err := ParseGreeting([]byte{10, 'x'}); err == nil {
		t.Fatal("a cut greeting was read")
	}
}

func TestLoginRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		l    Login
	}{
		{"SSLRequest", Login{Capabilities: ClientProtocol41 | ClientSSL, MaxPacketSize: 1 << 24, Charset: 45, SSLRequest: true}},
		{"everything", Login{
			Capabilities:  ClientProtocol41 | ClientSSL | ClientPluginAuth | ClientPluginAuthLenenc | ClientConnectWithDB | ClientConnectAttrs | ClientSecureConnection,
			MaxPacketSize: 1 << 24, Charset: 33, User: "alice", AuthResponse: []byte{1, 2, 3}, Database: "shop",
			AuthPlugin: "mysql_native_password", Attributes: [][2]string{{"_client_name", "libmariadb"}, {"program_name", "mariadb"}},
		}},
		{"short auth response", Login{Capabilities: ClientProtocol41 | ClientSecureConnection, User: "bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLogin(tt.l.Append(nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.l) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", *got, tt.l)
			}
		})
	}
	if _, err := ParseLogin(make([]byte, 32)); !errors.Is(err, ErrOldProtocol) {
		t.Fatalf("a pre-4.1 login: %v", err)
	}
}

func TestResponses(t *testing.T) {
	e := &Error{Code: ErAccessDenied, SQLState: "28000", Message: "keyway: no role of alice allows db user bob"}
	b := e.Append(nil)
	if !IsError(b) || IsOK(b) {
		t.Fatal("an ERR packet is not recognised")
	}
	if got := ParseError(b, ClientProtocol41); *got != *e {
		t.Fatalf("ERR round trip: %+v", got)
	}
	ok := &OK{AffectedRows: 300, LastInsertID: 7, Status: 2, Warnings: 1, Info: "Rows matched"}
	b = ok.Append(nil)
	if !IsOK(b) || IsEOF(b) {
		t.Fatal("an OK packet is not recognised")
	}
	got, err := ParseOK(b, ClientProtocol41)
	if err != nil || *got != *ok {
		t.Fatalf("OK round trip: %+v, %v", got, err)
	}
	eof := []byte{0xfe, 0, 0, 8, 0}
	if !IsEOF(eof) || IsOK(eof) || EOFStatus(eof)&StatusMoreResultsExist == 0 {
		t.Fatal("an EOF packet with more results is not recognised")
	}
}

func TestParseExecute(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		payload []byte
		nParams int
		prev    []ParamType
		want    []*string
		err     string
	}{
		{"no parameters", []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0}, 0, nil, nil, ""},
		{"int, string, NULL", []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0,
			0b100, 1, TypeLong, 0, TypeVarString, 0, TypeLong, 0,
			0xfe, 0xff, 0xff, 0xff, 3, 'a', 'b', 'c'}, 3, nil, []*string{str("-2"), str("abc"), nil}, ""},
		{"unsigned tiny and a double", []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0,
			0, 1, TypeTiny, 0x80, TypeDouble, 0,
			0xff, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f}, 2, nil, []*string{str("255"), str("1.5")}, ""},
		{"types from the previous execution", []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0,
			0, 0, 4, 'x', 'y', 'z', 'w'}, 1, []ParamType{{Type: TypeString}}, []*string{str("xyzw")}, ""},
		{"a datetime", []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0,
			0, 1, TypeDateTime, 0, 7, 0xea, 0x07, 12, 4, 16, 30, 5}, 1, nil, []*string{str("2026-12-04 16:30:05")}, ""},
		{"no types at all", []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0}, 1, nil, nil, "no parameter types"},
		{"a cut value", []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, TypeLongLong, 0, 1, 2}, 1, nil, nil, "parameter 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExecute(tt.payload, tt.nParams, tt.prev)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one about %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.StatementID != 1 || !reflect.DeepEqual(got.Params, tt.want) {
				t.Fatalf("statement %d, params %v, want %v", got.StatementID, deref(got.Params), deref(tt.want))
			}
		})
	}
}

func deref(ps []*string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p == nil {
			out[i] = "NULL"
		} else {
			out[i] = *p
		}
	}
	return out
}
