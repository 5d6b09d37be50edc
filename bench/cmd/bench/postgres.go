package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// maxConnections is PostgreSQL's max_connections for a run: every idle
// session of the memory measurements holds a backend through keyway (the
// backends of the all-in-one's sessions may still be exiting when those
// through the agent open), and pgbouncer may keep a pool of its own open
// meanwhile.
func maxConnections(o options) int {
	return max(300, 2*o.sessions+2*o.maxClients()+50)
}

// startPostgres starts PostgreSQL with TLS and certificate
// authentication, creates pgDB and fills it with pgbench's tables over
// the trusted Unix socket.
func startPostgres(ctx context.Context, o options, cs certs) (*pgtest.Server, error) {
	pg, err := pgtest.New(pgtest.Options{
		CertFile: cs.server.crt(), KeyFile: cs.server.key(), CAFile: cs.server.cas(),
		Settings: map[string]string{"max_connections": strconv.Itoa(maxConnections(o))},
	})
	if err != nil {
		return nil, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	if _, err := pg.Exec("create database " + pgDB); err != nil {
		pg.Stop()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.pgbench, "-i", "-q", "-s", strconv.Itoa(o.scale),
		"-h", pg.SocketDir, "-p", strconv.Itoa(pg.Port), "-U", pgUser, pgDB)
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.Stop()
		return nil, fmt.Errorf("pgbench -i: %w\n%s", err, out)
	}
	return pg, nil
}

// directPath is the limit: pgbench straight to PostgreSQL over TLS with a
// db-client certificate.
func directPath(_ context.Context, e *env) (endpoint, error) {
	return endpoint{
		host: e.pg.Host, port: e.pg.Port, user: pgUser, dbname: pgDB,
		rootCert: e.certs.client.cas(), cert: e.certs.client.crt(), key: e.certs.client.key(),
	}, nil
}
