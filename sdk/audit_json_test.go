package sdk

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// sameAsEncoder checks AppendJSON against what a json.Encoder that does
// not escape HTML writes of e.
func sameAsEncoder(t *testing.T, e AuditEvent) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	wantErr := enc.Encode(e)
	want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	got, err := e.AppendJSON([]byte("prefix"))
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendJSON error %v, json.Encoder error %v", err, wantErr)
	}
	if err == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("AppendJSON:\n%s\njson.Encoder:\n%s", got[len("prefix"):], want)
	}
	if err != nil && string(got) != "prefix" {
		t.Fatalf("AppendJSON failed and changed its buffer: %q", got)
	}
}

func TestAppendJSONIsEncoderOutput(t *testing.T) {
	grace := time.Date(2031, 2, 3, 4, 5, 6, 7, time.FixedZone("x", 3600))
	tests := map[string]AuditEvent{
		"empty": {},
		"a statement": {
			Event: AuditSessionStatement, Code: "TS01", Time: time.Date(2026, 12, 5, 7, 0, 0, 123456789, time.UTC), Cluster: "example",
			Success: true, SessionID: "4f2a", Index: 7, User: "alice", SpiffeID: "spiffe://example/user/alice", ClientAddr: "10.0.0.1:5555",
			DBService: "orders", DBProtocol: "postgres", DBURI: "db:5432", DBUser: "app", DBName: "shop",
			Query: "select * from t where a = $1", Parameters: []string{"x", ""}, Truncated: true, RowsAffected: 3, CommandTag: "SELECT 3",
		},
		"an end":              {Event: AuditSessionEnd, DurationMS: 1500, BytesIn: -1, BytesOut: 1 << 40, Reason: "r", Target: "t", Error: "e"},
		"a rotation":          {Event: "ca.rotate", CAPin: "sha256:ab", GraceEnds: &grace},
		"empty parameters":    {Parameters: []string{}},
		"escapes":             {Query: "a\"b\\c\nd\re\tf\bg\fh\x00i\x1fj<k>l&m\u2028n\u2029o\x7fp"},
		"unicode":             {Query: "é ✓ 😀 \U0010ffff"},
		"invalid utf-8":       {Query: "a\xffb\xc3(c\xe2\x82d\xed\xa0\x80"},
		"a year json cannot":  {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"a grace json cannot": {GraceEnds: func() *time.Time { y := time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC); return &y }()},
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) { sameAsEncoder(t, e) })
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("select 1", "alice", "a\x00<b>", int64(3), true, int64(1700000000123456789))
	f.Add("\xff\u2028\"\\", "", "", int64(-5), false, int64(0))
	f.Fuzz(func(t *testing.T, query, user, param string, n int64, ok bool, nanos int64) {
		sameAsEncoder(t, AuditEvent{
			Event: AuditSessionQuery, Time: time.Unix(0, nanos).UTC(), Success: ok, User: user, Query: query,
			Parameters: []string{param, query}, RowsAffected: n, Index: n, Error: param,
		})
	})
}

func BenchmarkAuditEventJSON(b *testing.B) {
	e := AuditEvent{
		Event: AuditSessionQuery, Code: "TQ01", Time: time.Now(), Success: true, SessionID: "2d1f4c3a-0f1e-4d9e-9a35-6e3b2c1d0e9f", Index: 12,
		User: "alice", SpiffeID: "spiffe://example/user/alice", ClientAddr: "127.0.0.1:51234", DBService: "orders", DBProtocol: "postgres",
		DBURI: "127.0.0.1:5432", DBUser: "postgres", DBName: "bench", Query: "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
		RowsAffected: 1, CommandTag: "SELECT 1",
	}
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			var err error
			if buf, err = e.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
