package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// allInOneConfig runs auth, proxy and the database agent in one keyway
// process, as test/e2e's all-in-one does.
const allInOneConfig = `auth {}

proxy {
  listen = %q
}

db {
  database %q {
    protocol = "postgres"
    uri      = %q
  }
}
`

// keywayPath starts keyway all-in-one and reaches PostgreSQL through its
// proxy with a user certificate routed to the database.
func keywayPath(ctx context.Context, e *env) (endpoint, error) {
	port, err := freePort()
	if err != nil {
		return endpoint{}, err
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := e.cluster.writeConfig(fmt.Sprintf(allInOneConfig, listen, keywayDB, e.pg.Addr())); err != nil {
		return endpoint{}, err
	}
	p, err := startProcess("keyway", e.cluster.path("keyway.log"), nil, e.cluster.bin, "start", "-c", e.cluster.cfg)
	if err != nil {
		return endpoint{}, err
	}
	e.onClose(func() { p.stop(10 * time.Second) })
	ep := userEndpoint("127.0.0.1", port, e.certs.user)
	if err := p.waitUntil(ctx, 30*time.Second, "session through keyway's proxy", ep.ping); err != nil {
		return endpoint{}, err
	}
	ep.servers = []int{p.pid()}
	e.keyway, e.keywayEndpoint = p, ep
	return ep, nil
}

// userEndpoint is keyway's proxy as a user reaches it: the user's routed
// certificate, the host authority to verify the proxy.
func userEndpoint(host string, port int, f certFiles) endpoint {
	return endpoint{host: host, port: port, user: pgUser, dbname: pgDB, rootCert: f.cas(), cert: f.crt(), key: f.key()}
}

// keywayBinary returns the binary to benchmark: path when given,
// otherwise bin/keyway built from the module the benchmark runs in.
func keywayBinary(ctx context.Context, path, root string) (string, error) {
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", fmt.Errorf("keyway binary: %w", err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("keyway binary: %w", err)
		}
		return abs, nil
	}
	out := filepath.Join(root, "bin", "keyway")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./cmd/keyway")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building keyway: %w\n%s", err, b)
	}
	return out, nil
}
