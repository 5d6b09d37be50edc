package postgres

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// TestCheckDatabase runs the health check against real servers: one that
// serves TLS with the expected CA, one checked with another CA, one with
// TLS off, and an address where nothing listens.
func TestCheckDatabase(t *testing.T) {
	files := pgtest.WriteTLSFiles(t)
	other := pgtest.WriteTLSFiles(t)
	ca, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := os.ReadFile(other.CA)
	if err != nil {
		t.Fatal(err)
	}
	withTLS := pgtest.Start(t, files.Options())
	noTLSOpts := files.Options()
	noTLSOpts.Settings = map[string]string{"ssl": "off"}
	noTLSOpts.HBA = []string{"host all all 127.0.0.1/32 trust"}
	noTLS := pgtest.Start(t, noTLSOpts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	tests := []struct {
		name    string
		db      sdk.Database
		problem string // empty: healthy
	}{
		{"TLS verified with the database's CA", sdk.Database{URI: withTLS.Addr(), Trust: sdk.ServerTrust{CAPEM: ca}}, ""},
		{"no trust known yet: TLS unverified", sdk.Database{URI: withTLS.Addr()}, ""},
		{"another CA", sdk.Database{URI: withTLS.Addr(), Trust: sdk.ServerTrust{CAPEM: otherCA}}, "certificate"},
		{"TLS off", sdk.Database{URI: noTLS.Addr(), Trust: sdk.ServerTrust{CAPEM: ca}}, "refuses TLS"},
		{"nothing listening", sdk.Database{URI: closed, Trust: sdk.ServerTrust{CAPEM: ca}}, "refused"},
	}
	p := &Plugin{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CheckDatabase(context.Background(), &tt.db)
			switch {
			case tt.problem == "" && err != nil:
				t.Fatalf("a healthy database was found unhealthy: %v", err)
			case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
				t.Fatalf("got %v, want a problem about %q", err, tt.problem)
			}
		})
	}
	if log, _ := withTLS.Log(); strings.Contains(log, "EOF detected") {
		t.Fatalf("the check left PostgreSQL a log line:\n%s", log)
	}
}

// TestSpecPreamblesAreValid: the preambles the proxy matches are valid,
// apart from each other, and match what psql sends.
func TestSpecPreamblesAreValid(t *testing.T) {
	spec := (&Plugin{}).Spec()
	for i, p := range spec.Preambles {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, q := range spec.Preambles[i+1:] {
			if p.Overlaps(q) {
				t.Fatalf("%s overlaps %s", p.Name, q.Name)
			}
		}
	}
	startup, err := startupMessage(map[string]string{"user": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"SSLRequest", []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}, "SSLRequest"},
		{"GSSENCRequest", []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}, "GSSENCRequest"},
		{"CancelRequest", []byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e}, "CancelRequest"},
		{"plaintext StartupMessage", startup[:8], "StartupMessage"},
		{"a TLS ClientHello", []byte{0x16, 3, 1, 0, 0xc8, 1, 0, 0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			for _, p := range spec.Preambles {
				if p.Matches(tt.head) {
					got = p.Name
				}
			}
			if got != tt.want {
				t.Fatalf("matched %q, want %q", got, tt.want)
			}
		})
	}
}
