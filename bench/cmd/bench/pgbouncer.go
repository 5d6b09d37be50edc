package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// pgbouncerConfig is pgbouncer in session mode with TLS on both sides.
// Clients authenticate with a client certificate (auth_type = cert: the
// certificate must verify against the db-client authority and its common
// name be the user, who must also be listed in auth_file, without a
// password); pgbouncer logs in to PostgreSQL with its own db-client
// certificate and verifies the server's (verify-full), as keyway does.
const pgbouncerConfig = `[databases]
%[1]s = host=%[2]s port=%[3]d dbname=%[1]s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %[4]d
unix_socket_dir =
logfile = %[5]s/pgbouncer.log
auth_type = cert
auth_file = %[5]s/userlist.txt
pool_mode = session
max_client_conn = %[6]d
default_pool_size = %[7]d
ignore_startup_parameters = extra_float_digits

client_tls_sslmode = verify-full
client_tls_cert_file = %[5]s/server.crt
client_tls_key_file = %[5]s/server.key
client_tls_ca_file = %[5]s/db-client.cas

server_tls_sslmode = verify-full
server_tls_cert_file = %[5]s/client.crt
server_tls_key_file = %[5]s/client.key
server_tls_ca_file = %[5]s/db.cas
`

// pgbouncerPath starts pgbouncer as PostgreSQL's user (it refuses root).
func pgbouncerPath(ctx context.Context, e *env) (endpoint, error) {
	dir := filepath.Join(e.dir, "pgbouncer")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return endpoint{}, fmt.Errorf("pgbouncer directory: %w", err)
	}
	if err := e.chown(dir); err != nil {
		return endpoint{}, err
	}
	files := map[string]string{
		e.certs.server.crt(): "server.crt", e.certs.server.key(): "server.key", e.certs.server.cas(): "db-client.cas",
		e.certs.client.crt(): "client.crt", e.certs.client.key(): "client.key", e.certs.client.cas(): "db.cas",
	}
	for src, name := range files {
		if err := e.copyOwned(src, filepath.Join(dir, name)); err != nil {
			return endpoint{}, err
		}
	}
	port, err := freePort()
	if err != nil {
		return endpoint{}, err
	}
	users := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(users, []byte(fmt.Sprintf("%q \"\"\n", pgUser)), 0o600); err != nil {
		return endpoint{}, fmt.Errorf("writing %s: %w", users, err)
	}
	if err := e.chown(users); err != nil {
		return endpoint{}, err
	}
	cfg := filepath.Join(dir, "pgbouncer.ini")
	maxConns := e.opts.sessions + 2*e.opts.maxClients()
	body := fmt.Sprintf(pgbouncerConfig, pgDB, e.pg.Host, e.pg.Port, port, dir, maxConns, e.opts.maxClients())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return endpoint{}, fmt.Errorf("writing %s: %w", cfg, err)
	}
	if err := e.chown(cfg); err != nil {
		return endpoint{}, err
	}
	p, err := startProcess("pgbouncer", filepath.Join(dir, "stderr.log"), e.credential(), e.opts.pgbouncer, cfg)
	if err != nil {
		return endpoint{}, err
	}
	e.onClose(func() { p.stop(5 * time.Second) })
	ep := endpoint{
		host: "127.0.0.1", port: port, user: pgUser, dbname: pgDB,
		rootCert: e.certs.client.cas(), cert: e.certs.client.crt(), key: e.certs.client.key(),
	}
	if err := p.waitUntil(ctx, 20*time.Second, "session through pgbouncer", ep.ping); err != nil {
		return endpoint{}, err
	}
	ep.servers = []int{p.pid()}
	return ep, nil
}

// copyOwned copies src to dst (mode 0600) owned by the servers' user.
func (e *env) copyOwned(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return e.chown(dst)
}
