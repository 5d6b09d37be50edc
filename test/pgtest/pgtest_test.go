package pgtest

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestServerWithTLSAndCertAuth(t *testing.T) {
	files := WriteTLSFiles(t, "postgres")
	dir := files.Dir
	s := Start(t, files.Options())
	if got := s.SQL(t, "select 40 + 2"); got != "42" {
		t.Fatalf("select over the socket = %q", got)
	}
	conn := "host=127.0.0.1 port=" + strconv.Itoa(s.Port) + " user=postgres dbname=postgres sslmode=verify-full" +
		" sslrootcert=" + filepath.Join(dir, "ca.crt") +
		" sslcert=" + filepath.Join(dir, "postgres.crt") + " sslkey=" + filepath.Join(dir, "postgres.key")
	out, err := exec.Command("psql", "-X", "-A", "-t", conn, "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "t" {
		t.Fatalf("psql over TLS with a client certificate: %v\n%s", err, out)
	}
	noCert := "host=127.0.0.1 port=" + strconv.Itoa(s.Port) + " user=postgres dbname=postgres sslmode=require"
	out, err = exec.Command("psql", "-X", noCert, "-c", "select 1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "certificate") {
		t.Fatalf("a connection without a client certificate was not refused: %v\n%s", err, out)
	}

	s.SQL(t, "create table kept (v int); insert into kept values (7)")
	s.Halt()
	if _, err := s.Exec("select 1"); err == nil {
		t.Fatal("a halted server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if got := s.SQL(t, "select v from kept"); got != "7" {
		t.Fatalf("after Resume the table holds %q", got)
	}
}

// TestMaxConnections: max_connections is 200 unless a test's Settings say
// otherwise.
func TestMaxConnections(t *testing.T) {
	files := WriteTLSFiles(t)
	tests := []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"default", nil, "200"},
		{"set by the test", map[string]string{"max_connections": "600"}, "600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := files.Options()
			opts.Settings = tt.settings
			s := Start(t, opts)
			if got := s.SQL(t, "show max_connections"); got != tt.want {
				t.Fatalf("max_connections = %s, want %s", got, tt.want)
			}
		})
	}
}
