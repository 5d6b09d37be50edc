package sdk

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigureRequestDecode(t *testing.T) {
	type cfg struct {
		Upstream string `json:"upstream"`
	}
	tests := []struct {
		name, in, want, err string
	}{
		{"known field", `{"upstream":"a:1"}`, "a:1", ""},
		{"null attribute", `{"upstream":null}`, "", ""},
		{"empty config", ``, "", ""},
		{"unknown field", `{"upstrem":"a:1"}`, "", `unknown field "upstrem"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c cfg
			err := ConfigureRequest{Config: []byte(tt.in)}.Decode(&c)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || c.Upstream != tt.want {
				t.Fatalf("got %q, %v", c.Upstream, err)
			}
		})
	}
}

func TestDiagnostics(t *testing.T) {
	var d Diagnostics
	if d.Err() != nil {
		t.Fatal("empty diagnostics are an error")
	}
	d.Add("tls.cert_file", "cannot read", "no such file")
	d.Add("", "whole block", "")
	err := d.Err()
	var got Diagnostics
	if !errors.As(err, &got) || len(got) != 2 {
		t.Fatalf("errors.As: %v", err)
	}
	if want := "tls.cert_file: cannot read (no such file); whole block"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestPrefixConnReadsPrefixFirst(t *testing.T) {
	c := &prefixConn{Conn: stringConn{strings.NewReader("rest")}, prefix: []byte("pre")}
	buf := make([]byte, 2)
	var out []byte
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	if string(out) != "prerest" {
		t.Fatalf("read %q", out)
	}
}

func TestCheckKind(t *testing.T) {
	if err := checkKind(notAProtocol{}, KindProtocol); err == nil || !strings.Contains(err.Error(), "does not implement") {
		t.Fatalf("err = %v", err)
	}
	if err := checkKind(notAProtocol{}, KindUnknown); err == nil || !strings.Contains(err.Error(), "has no kind") {
		t.Fatalf("err = %v", err)
	}
}

func TestDBEvents(t *testing.T) {
	tests := []struct {
		asked, want string
		ok          bool
	}{
		{"", AuditDBEventsAll, true},
		{AuditDBEventsAll, AuditDBEventsAll, true},
		{AuditDBEventsSessions, AuditDBEventsSessions, true},
		{AuditDBEventsNone, AuditDBEventsNone, true},
		{"statements", "", false},
	}
	for _, tt := range tests {
		got, err := ConfigureRequest{AuditDBEvents: tt.asked}.DBEvents()
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("DBEvents(%q) = %q, %v; want %q, ok=%v", tt.asked, got, err, tt.want, tt.ok)
		}
	}
}
