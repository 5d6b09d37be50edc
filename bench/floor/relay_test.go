package floor

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// serve runs r on a new listener until the test ends and returns its port.
func serve(t *testing.T, r *Relay) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve(ln) }()
	t.Cleanup(func() {
		_ = ln.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// TestRelaysCarryPsqlSessions runs psql with sslmode=verify-full and a
// client certificate through one relay and through two chained ones to a
// real PostgreSQL, which must see a TLS session authenticated by the
// relay's certificate; a client without a certificate is refused.
func TestRelaysCarryPsqlSessions(t *testing.T) {
	files := pgtest.WriteTLSFiles(t, "postgres")
	pg := pgtest.Start(t, files.Options())
	cert, key := files.Client("postgres")
	server, err := ServerTLS(files.ServerCert, files.ServerKey, files.CA)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ClientTLS(cert, key, files.CA, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	oneHop := serve(t, &Relay{In: Postgres, Server: server, Upstream: pg.Addr(), Out: Postgres, Client: client, Timeout: 10 * time.Second})
	inner := serve(t, &Relay{In: TLS, Server: server, Upstream: pg.Addr(), Out: Postgres, Client: client, Timeout: 10 * time.Second})
	twoHops := serve(t, &Relay{In: Postgres, Server: server, Upstream: net.JoinHostPort("127.0.0.1", strconv.Itoa(inner)), Out: TLS, Client: client, Timeout: 10 * time.Second})

	tests := []struct {
		name string
		port int
	}{{"one relay", oneHop}, {"two relays", twoHops}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := "host=127.0.0.1 port=" + strconv.Itoa(tt.port) + " user=postgres dbname=postgres sslmode=verify-full" +
				" sslrootcert=" + files.CA + " sslcert=" + cert + " sslkey=" + key
			out, err := exec.Command("psql", "-X", "-A", "-t", conn, "-c",
				"select ssl::text || ' ' || client_dn from pg_stat_ssl where pid = pg_backend_pid()").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "true /CN=postgres" {
				t.Fatalf("psql through the relay: %v\n%s", err, out)
			}
			noCert := "host=127.0.0.1 port=" + strconv.Itoa(tt.port) + " user=postgres dbname=postgres sslmode=require sslcert=/nonexistent"
			out, err = exec.Command("psql", "-X", noCert, "-c", "select 1").CombinedOutput()
			if err == nil {
				t.Fatalf("a client without a certificate got through:\n%s", out)
			}
		})
	}
}
