package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// allInOne is a keyway running auth, proxy and agent in one process in
// front of a real PostgreSQL.
type allInOne struct {
	cluster
	node  *node
	pg    *pgtest.Server
	proxy string
	diag  string
}

// dbName is the registered name of the test database.
const dbName = "example-postgres"

func startAllInOne(t *testing.T) *allInOne {
	t.Helper()
	return startAllInOneWith(t, allInOneOptions{})
}

// allInOneOptions change the all-in-one a test starts.
type allInOneOptions struct {
	// proxyExtra is added to the proxy block.
	proxyExtra string
	// pgSettings are extra PostgreSQL settings.
	pgSettings map[string]string
	// extra ends the configuration, such as an audit block.
	extra string
	// dbExtra is added to the database block, such as a pool block.
	dbExtra string
}

// startAllInOneWith is startAllInOne with options.
func startAllInOneWith(t *testing.T, opts allInOneOptions) *allInOne {
	t.Helper()
	// The database's certificates come from the cluster, so the data
	// directory is made first, then PostgreSQL, then keyway.
	c := newCluster(t, "")
	pg := postgresWith(t, c, opts.pgSettings)
	for attempt := 1; ; attempt++ {
		proxyAddr, diagAddr := freeAddr(t), freeAddr(t)
		body := fmt.Sprintf(`cluster_name = "e2e"
data_dir = %q

auth {}

proxy {
  listen            = %q
  handshake_timeout = "2s"
  %s
}

db {
  database %q {
    protocol = "postgres"
    uri      = %q
    labels   = { env = "dev" }
    %s
  }
}

diag {
  listen = %q
}
`, c.data, proxyAddr, opts.proxyExtra, dbName, pg.Addr(), opts.dbExtra, diagAddr) + opts.extra
		if err := os.WriteFile(c.cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := tryStartNode(t, c.cfg, c.data)
		if err == nil {
			return &allInOne{cluster: c, pg: pg, proxy: proxyAddr, diag: diagAddr, node: n}
		}
		// Another process may take a free port before keyway binds it:
		// then keyway tries again on others.
		if attempt < 3 && strings.Contains(n.logs(), "address already in use") {
			t.Logf("keyway's ports were taken, starting again on others: %v", err)
			continue
		}
		t.Fatal(err)
	}
}

// userFiles signs files for psql: a user certificate routed to the
// database as dbUser (and dbName when set).
func (a *allInOne) userFiles(t *testing.T, name string, args ...string) string {
	t.Helper()
	out := a.path(name)
	kwSign(t, append([]string{"auth", "sign", "--format=files", "--user=" + name, "--route=" + dbName, "--out=" + out, "-c", a.cfg}, args...)...)
	return out
}

// connString is the libpq connection string to the proxy with files at
// prefix.
func (a *allInOne) connString(prefix, user, db string) string {
	host, port, _ := strings.Cut(a.proxy, ":")
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=verify-full sslrootcert=%s.cas sslcert=%s.crt sslkey=%s.key connect_timeout=10",
		host, port, user, db, prefix, prefix, prefix)
}

// pgxConnect connects with pgx through the proxy.
func (a *allInOne) pgxConnect(t *testing.T, prefix, user, db string) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return pgx.Connect(ctx, a.connString(prefix, user, db)+" application_name=keyway-e2e")
}

// sqlState extracts the SQLSTATE and message of a PostgreSQL error.
func sqlState(t *testing.T, err error) (string, string) {
	t.Helper()
	if pe, ok := pgErr(err); ok {
		return pe.Code, pe.Message
	}
	t.Fatalf("not a PostgreSQL error: %v", err)
	return "", ""
}

func pgErr(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	ok := errors.As(err, &pe)
	return pe, ok
}

func TestPsqlThroughTheProxy(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	out, err := pgtest.Psql(a.connString(alice, "postgres", "postgres"), "select current_user || ' ' || (select ssl from pg_stat_ssl where pid = pg_backend_pid())")
	if err != nil || out != "postgres true" {
		t.Fatalf("psql through the proxy: %q, %v", out, err)
	}
}

func TestRefusalsReachTheClientAsErrorResponses(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=app", "--db-names=*")
	aliceRouted := a.userFiles(t, "carol", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")

	// The foreign cluster runs: auth sign signs its stored users.
	foreign := newCluster(t, "auth {}\n")
	startNode(t, foreign.cfg, foreign.data)
	stranger := foreign.path("mallory")
	kwSign(t, "auth", "sign", "--format=files", "--user=mallory", "--roles=access", "--db-users=*", "--db-names=*", "--route="+dbName, "--out="+stranger, "-c", foreign.cfg)
	// The stranger trusts our proxy (they copied the host CA); only
	// their certificate is foreign.
	if err := os.WriteFile(stranger+".cas", mustRead(t, alice+".cas"), 0o644); err != nil {
		t.Fatal(err)
	}
	lost := a.path("lost")
	kwSign(t, "auth", "sign", "--format=files", "--user=lost", "--roles=access", "--db-users=*", "--db-names=*", "--route=no-such-db", "--out="+lost, "-c", a.cfg)
	unrouted := a.path("dave")
	kwSign(t, "auth", "sign", "--format=files", "--user=dave", "--roles=access", "--db-users=*", "--db-names=*", "--out="+unrouted, "-c", a.cfg)

	tests := []struct {
		name, prefix, user, db string
		state, message         string
	}{
		{"role does not allow the db user", alice, "postgres", "postgres", "28000", `no role of alice allows db user "postgres" with database "postgres" on example-postgres (roles: access)`},
		{"startup user differs from the route", aliceRouted, "bob", "postgres", "28000", `this certificate of carol is for database user "postgres", not "bob"`},
		{"certificate from another cluster", stranger, "postgres", "postgres", "28000", "was not issued by this cluster's user authority"},
		{"unknown database", lost, "postgres", "postgres", "3D000", "database no-such-db is not registered in this cluster"},
		{"certificate without a route", unrouted, "postgres", "postgres", "28000", "is not for a database; run keyway db login NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := a.pgxConnect(t, tt.prefix, tt.user, tt.db)
			if err == nil {
				_ = conn.Close(context.Background())
				t.Fatal("connection succeeded")
			}
			state, msg := sqlState(t, err)
			if state != tt.state || !strings.Contains(msg, tt.message) {
				t.Fatalf("got %s %q, want %s containing %q", state, msg, tt.state, tt.message)
			}
		})
	}

	if n := a.pg.SQL(t, "select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()"); n != "0" {
		t.Fatalf("%s connections reached PostgreSQL for refused sessions", n)
	}

	host, port, _ := strings.Cut(a.proxy, ":")
	out, err := pgtest.Psql("host="+host+" port="+port+" user=postgres dbname=postgres sslmode=disable", "select 1")
	if err == nil || !strings.Contains(out, "keyway accepts PostgreSQL connections only over TLS") {
		t.Fatalf("plaintext connection: %q, %v", out, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDatabaseDownGivesAConnectionError(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*")
	a.pg.Stop()
	_, err := a.pgxConnect(t, alice, "postgres", "postgres")
	state, msg := sqlState(t, err)
	if state != "08001" || !strings.Contains(msg, "keyway cannot reach database example-postgres at "+a.pg.Addr()) {
		t.Fatalf("got %s %q", state, msg)
	}
}

// pgtestPsql runs one statement with psql.
func pgtestPsql(conn, sql string) (string, error) { return pgtest.Psql(conn, sql) }
