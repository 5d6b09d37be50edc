package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// endpoint is how a client reaches the database through one path: always
// TLS with verify-full and a client certificate.
type endpoint struct {
	host         string
	port         int
	user, dbname string
	// rootCert verifies the server the client talks to; cert and key
	// authenticate the client.
	rootCert, cert, key string
	// servers are the processes that carry the path (keyway's, a relay,
	// pgbouncer): the CPU time they and their children spend in a run is
	// the path's cost. None for direct TLS.
	servers []int
}

// libpqEnv returns the environment for libpq programs (pgbench): the
// current environment without PG* variables, plus this endpoint's.
func (e endpoint) libpqEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env,
		"PGHOST="+e.host, "PGPORT="+strconv.Itoa(e.port), "PGUSER="+e.user, "PGDATABASE="+e.dbname,
		"PGSSLMODE=verify-full", "PGSSLROOTCERT="+e.rootCert, "PGSSLCERT="+e.cert, "PGSSLKEY="+e.key,
		"PGCONNECT_TIMEOUT=10", "PGAPPNAME=keyway-bench",
	)
}

// connString is the same endpoint for pgx.
func (e endpoint) connString() string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s connect_timeout=10 application_name=keyway-bench",
		e.host, e.port, e.user, e.dbname, e.rootCert, e.cert, e.key)
}

// connect opens one session with pgx.
func (e endpoint) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, e.connString())
	if err != nil {
		return nil, fmt.Errorf("connecting to %s:%d: %w", e.host, e.port, err)
	}
	return conn, nil
}

// ping opens a session, runs one query and closes it: the readiness test
// of every path.
func (e endpoint) ping(ctx context.Context) error {
	conn, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var one int
	if err := conn.QueryRow(ctx, "select 1").Scan(&one); err != nil {
		return fmt.Errorf("select 1 through %s:%d: %w", e.host, e.port, err)
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// settle waits until a session through e opens and answers again, for
// at most within: after hundreds of idle sessions close, PostgreSQL ends
// their backends for many seconds, and a session opened meanwhile may
// time out.
func (e endpoint) settle(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		err := e.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not answering %s after the idle sessions closed: %w", within, err)
		case <-time.After(time.Second):
		}
	}
}
