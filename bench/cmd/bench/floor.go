package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/keyway-dev/keyway/bench/floor"
)

// Names of the floor paths and the keyway paths each bounds.
const (
	floor1Name = "floor-1hop"
	floor2Name = "floor-2hop"
	// relayCommand runs this program as one floor relay instead of the
	// benchmark, so each relay is a process of its own, as keyway is.
	relayCommand = "floor-relay"
)

// floorOf names the floor of a keyway path's topology: one relay for
// the all-in-one, two chained for a proxy with a separate agent.
func floorOf(pathName string) string {
	switch pathName {
	case "keyway", noAuditName, poolName:
		return floor1Name
	case "keyway-agent":
		return floor2Name
	}
	return ""
}

// floor1Path starts one relay: mutual TLS from pgbench, mutual TLS to
// PostgreSQL, bytes copied.
func floor1Path(ctx context.Context, e *env) (endpoint, error) {
	port, pid, err := e.startRelay(ctx, "floor-1hop", "pg",
		e.certs.server, e.certs.server.cas(), "pg", e.pg.Host, e.pg.Port)
	if err != nil {
		return endpoint{}, err
	}
	return e.floorEndpoint(ctx, port, pid)
}

// floor2Path starts two relays: the first takes pgbench's sessions and
// reaches the second over one TLS connection per session, which reaches
// PostgreSQL.
func floor2Path(ctx context.Context, e *env) (endpoint, error) {
	inner, innerPid, err := e.startRelay(ctx, "floor-2hop-inner", "tls",
		e.certs.server, e.certs.server.cas(), "pg", e.pg.Host, e.pg.Port)
	if err != nil {
		return endpoint{}, err
	}
	outer, outerPid, err := e.startRelay(ctx, "floor-2hop-outer", "pg",
		e.certs.server, e.certs.server.cas(), "tls", "127.0.0.1", inner)
	if err != nil {
		return endpoint{}, err
	}
	return e.floorEndpoint(ctx, outer, outerPid, innerPid)
}

// floorEndpoint is a relay's port as pgbench reaches it: the same
// certificates as direct TLS, the relay presenting PostgreSQL's; pids
// are the relays' processes.
func (e *env) floorEndpoint(ctx context.Context, port int, pids ...int) (endpoint, error) {
	ep := endpoint{
		host: "127.0.0.1", port: port, user: pgUser, dbname: pgDB,
		rootCert: e.certs.client.cas(), cert: e.certs.client.crt(), key: e.certs.client.key(),
		servers: pids,
	}
	deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		err := ep.ping(deadline)
		if err == nil {
			return ep, nil
		}
		select {
		case <-deadline.Done():
			return endpoint{}, fmt.Errorf("no session through the relay on port %d: %w", port, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startRelay starts this program as a relay on a free port, presenting
// server and verifying clients against clientCAs, and forwarding to
// host:port with the db-client certificate; in and out say how each side
// starts TLS. It returns the relay's port and pid.
func (e *env) startRelay(ctx context.Context, name, in string, server certFiles, clientCAs, out, host string, port int) (listenPort, pid int, err error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, fmt.Errorf("finding this program to run %s: %w", name, err)
	}
	listen, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	p, err := startProcess(name, filepath.Join(e.dir, name+".log"), nil, self, relayCommand,
		"-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(listen)), "-in", in,
		"-cert", server.crt(), "-key", server.key(), "-client-ca", clientCAs,
		"-upstream", net.JoinHostPort(host, strconv.Itoa(port)), "-out", out,
		"-upstream-cert", e.certs.client.crt(), "-upstream-key", e.certs.client.key(),
		"-upstream-ca", e.certs.client.cas(), "-server-name", "127.0.0.1")
	if err != nil {
		return 0, 0, err
	}
	e.onClose(func() { p.stop(5 * time.Second) })
	return listen, p.pid(), nil
}

// runRelay is the relay process: it serves until SIGTERM.
func runRelay(args []string, log io.Writer) error {
	fs := flag.NewFlagSet(relayCommand, flag.ContinueOnError)
	fs.SetOutput(log)
	listen := fs.String("listen", "127.0.0.1:0", "address to accept sessions on")
	in := fs.String("in", "pg", "how clients start TLS: pg (SSLRequest) or tls")
	cert := fs.String("cert", "", "the relay's server certificate")
	key := fs.String("key", "", "its key")
	clientCA := fs.String("client-ca", "", "authorities that sign clients' certificates")
	upstream := fs.String("upstream", "", "HOST:PORT of the next hop")
	out := fs.String("out", "pg", "how the next hop starts TLS: pg (SSLRequest) or tls")
	upCert := fs.String("upstream-cert", "", "the relay's client certificate")
	upKey := fs.String("upstream-key", "", "its key")
	upCA := fs.String("upstream-ca", "", "authorities that sign the next hop's certificate")
	serverName := fs.String("server-name", "", "the name the next hop's certificate must carry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	side := func(s string) (floor.Side, error) {
		switch s {
		case "pg":
			return floor.Postgres, nil
		case "tls":
			return floor.TLS, nil
		}
		return 0, fmt.Errorf("%q is neither pg nor tls", s)
	}
	r := floor.Relay{Upstream: *upstream, Timeout: 10 * time.Second}
	var err error
	if r.In, err = side(*in); err != nil {
		return fmt.Errorf("-in: %w", err)
	}
	if r.Out, err = side(*out); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if r.Server, err = floor.ServerTLS(*cert, *key, *clientCA); err != nil {
		return err
	}
	if r.Client, err = floor.ClientTLS(*upCert, *upKey, *upCA, *serverName); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() { <-stop; _ = ln.Close() }()
	return r.Serve(ln)
}
