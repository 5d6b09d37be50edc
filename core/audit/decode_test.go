package audit

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// full is an event with every field set.
func full() Event {
	grace := time.Date(2026, 12, 7, 1, 2, 3, 4, time.UTC)
	return Event{
		Event: SessionQuery, Code: "TQ01", Time: time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.UTC), Cluster: "c1",
		Success: true, Error: "boom", SessionID: "s-1", Index: 7, User: "alice", SpiffeID: "spiffe://c1/user/alice",
		ClientAddr: "127.0.0.1:5000", DBService: "orders", DBProtocol: "postgres", DBURI: "127.0.0.1:5432", DBUser: "app",
		DBName: "shop", Query: "select '<é>'\n", Parameters: []string{"1", "", "x\x00y"}, Truncated: true,
		RowsAffected: 3, CommandTag: "SELECT 3", DurationMS: 12, BytesIn: 100, BytesOut: 2000, Reason: "why",
		Target: "agent/a", CAPin: "pin", GraceEnds: &grace,
	}
}

func TestDecodeReadsAsUnmarshal(t *testing.T) {
	whole, err := json.Marshal(full())
	if err != nil {
		t.Fatal(err)
	}
	appended, err := func() ([]byte, error) { e := full(); return e.AppendJSON(nil) }()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in string
		wantErr  bool
	}{
		{"every field, json.Marshal", string(whole), false},
		{"every field, AppendJSON", string(appended), false},
		{"empty object", `{}`, false},
		{"repeated key, last counts", `{"user":"alice","db_service":"a","user":"mallory"}`, false},
		{"nulls leave fields unset", `{"sid":null,"user":"x","ei":null,"success":null,"time":null,"parameters":null,"grace_ends":null}`, false},
		{"unknown keys ignored", `{"extra":{"deep":[1,{"a":2}]},"event":"db.session.query"}`, false},
		{"null parameter", `{"parameters":["a",null,"c"]}`, false},
		{"repeated parameters, last counts", `{"parameters":["a","b","c"],"user":"u","parameters":["d"]}`, false},
		{"null after a value", `{"parameters":["a"],"grace_ends":"2026-12-07T01:02:03Z","user":"u","parameters":null,"grace_ends":null,"user":null}`, false},
		{"escapes", `{"query":"\u00e9\ud83d\ude00 tab\t \"q\" \\ \/"}`, false},
		{"bytes that are not UTF-8", "{\"query\":\"a\xffb\xc3\"}", false},
		{"negative and zero numbers", `{"ei":-3,"bytes_in":0,"rows_affected":9223372036854775807}`, false},
		{"string for a number", `{"ei":"5"}`, true},
		{"fraction for a number", `{"ei":1.5}`, true},
		{"exponent for a number", `{"ei":1e3}`, true},
		{"number out of range", `{"ei":99999999999999999999}`, true},
		{"number for a string", `{"user":5}`, true},
		{"object for a string", `{"sid":{}}`, true},
		{"string for a bool", `{"success":"true"}`, true},
		{"time not RFC 3339", `{"time":"yesterday"}`, true},
		{"number for a time", `{"time":5}`, true},
		{"string for parameters", `{"parameters":"a"}`, true},
		{"number in parameters", `{"parameters":[1]}`, true},
		{"array", `[1]`, true},
		{"string", `"event"`, true},
		{"broken", `{"event":`, true},
		{"trailing text", `{"event":"x"} x`, true},
		{"two objects", `{"user":"a"}{"user":"b"}`, true},
		{"raw line break in a string", "{\"user\":\"a\nb\"}", true},
		{"raw control byte in a string", "{\"user\":\"a\x01b\"}", true},
		{"surrounding whitespace", " {\"user\":\"a\"}\n", false},
	}
	var d Decoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tt.in))
			var want Event
			wantErr := json.Unmarshal([]byte(tt.in), &want)
			if (err != nil) != tt.wantErr || (wantErr != nil) != tt.wantErr {
				t.Fatalf("Decode error %v, json.Unmarshal error %v, want an error: %v", err, wantErr, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode:\n%+v\njson.Unmarshal:\n%+v", got, want)
			}
		})
	}
}

// TestDecodeDiffersOnPurpose covers the inputs Decode reads otherwise
// than json.Unmarshal, as its doc says.
func TestDecodeDiffersOnPurpose(t *testing.T) {
	var d Decoder
	e, err := d.Decode([]byte(`{"user":"alice","USER":"mallory"}`))
	if err != nil || e.User != "alice" {
		t.Fatalf("a key that differs in case: got %q, %v; want alice", e.User, err)
	}
	if _, err := d.Decode([]byte(`null`)); err == nil {
		t.Fatal("null decoded as an event")
	}
	// json.Unmarshal refuses nesting past 10,000; Decode past 300.
	deep := `{"extra":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`
	if _, err := d.Decode([]byte(deep)); err == nil {
		t.Fatal("an event nested 1,000 deep decoded")
	}
}

// TestDecodeKeepsNoDecoderMemory decodes with one Decoder twice and
// checks the first event is intact.
func TestDecodeKeepsNoDecoderMemory(t *testing.T) {
	var d Decoder
	first, err := d.Decode([]byte(`{"user":"alice","parameters":["one"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode([]byte(`{"user":"mallory","parameters":["two"]}`)); err != nil {
		t.Fatal(err)
	}
	if first.User != "alice" || first.Parameters[0] != "one" {
		t.Fatalf("the first event changed: %+v", first)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("select 1", "alice", "a\x00<b>", int64(3), true, int64(1700000000123456789))
	f.Add("\xff\u2028\"\\", "", "", int64(-5), false, int64(0))
	f.Fuzz(func(t *testing.T, query, user, param string, n int64, ok bool, nanos int64) {
		in, err := json.Marshal(Event{
			Event: SessionQuery, Time: time.Unix(0, nanos).UTC(), Success: ok, User: user, Query: query,
			Parameters: []string{param, query}, RowsAffected: n, Index: n, Error: param,
		})
		if err != nil {
			t.Skip(err)
		}
		var want Event
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatal(err)
		}
		var d Decoder
		got, err := d.Decode(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode: %+v, %v\njson.Unmarshal: %+v", got, err, want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	e := full()
	in, err := e.AppendJSON(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var e Event
			if err := json.Unmarshal(in, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		var d Decoder
		for b.Loop() {
			if _, err := d.Decode(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
