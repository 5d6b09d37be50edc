package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Names the benchmark uses on both sides of the proxy.
const (
	clusterName = "bench"
	// keywayDB is the database's registered name in keyway.
	keywayDB = "bench"
	// pgDB is the PostgreSQL database holding pgbench's tables.
	pgDB = "bench"
	// pgUser is the database user every path logs in as.
	pgUser = "postgres"
)

// cluster is a keyway configuration and data directory; its CLI issues
// every certificate of the benchmark, as an operator would.
type cluster struct {
	bin  string
	dir  string
	cfg  string
	data string
}

// newCluster writes a configuration with no roles yet: enough for the CLI
// to create the authorities and sign.
func newCluster(bin, dir string) (*cluster, error) {
	c := &cluster{bin: bin, dir: dir, cfg: filepath.Join(dir, "keyway.hcl"), data: filepath.Join(dir, "data")}
	return c, c.writeConfig("")
}

// writeConfig replaces the configuration: the cluster name and data
// directory followed by body.
func (c *cluster) writeConfig(body string) error {
	src := fmt.Sprintf("cluster_name = %q\ndata_dir = %q\n\n%s", clusterName, c.data, body)
	if err := os.WriteFile(c.cfg, []byte(src), 0o600); err != nil {
		return fmt.Errorf("writing keyway configuration: %w", err)
	}
	return nil
}

// path is a file in the working directory.
func (c *cluster) path(name string) string { return filepath.Join(c.dir, name) }

// kw runs the keyway CLI against this cluster's configuration.
func (c *cluster) kw(ctx context.Context, args ...string) (string, error) {
	args = append(args, "-c", c.cfg)
	out, err := exec.CommandContext(ctx, c.bin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("keyway %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// certFiles are the files the CLI writes for one certificate:
// PREFIX.crt, PREFIX.key and PREFIX.cas (the authority to trust).
type certFiles struct{ prefix string }

func (f certFiles) crt() string { return f.prefix + ".crt" }
func (f certFiles) key() string { return f.prefix + ".key" }
func (f certFiles) cas() string { return f.prefix + ".cas" }

// certs are the certificates every path needs.
type certs struct {
	// server is PostgreSQL's (and pgbouncer's) server certificate for
	// 127.0.0.1; its .cas is the db-client authority.
	server certFiles
	// client logs in to PostgreSQL as pgUser; its .cas is the db
	// authority, which signed server.
	client certFiles
	// user is a person's certificate routed through keyway's proxy to
	// keywayDB as pgUser; its .cas is the host authority.
	user certFiles
}

// issueCerts signs the benchmark's certificates with the CLI.
func (c *cluster) issueCerts(ctx context.Context) (certs, error) {
	cs := certs{
		server: certFiles{c.path("server")},
		client: certFiles{c.path("client")},
		user:   certFiles{c.path("alice")},
	}
	steps := [][]string{
		{"auth", "sign", "--format=db", "--host=127.0.0.1", "--out=" + cs.server.prefix},
		{"auth", "sign", "--format=db-client", "--db-user=" + pgUser, "--ttl=48h", "--out=" + cs.client.prefix},
	}
	for _, args := range steps {
		if _, err := c.kw(ctx, args...); err != nil {
			return certs{}, err
		}
	}
	// auth sign signs only stored users, and both commands ask a running
	// keyway.
	err := c.withAuth(ctx, func() error {
		if _, err := c.kw(ctx, "users", "add", "alice", "--roles=access", "--db-users=*", "--db-names=*"); err != nil {
			return err
		}
		return c.userCert(ctx, "alice", keywayDB, cs.user)
	})
	if err != nil {
		return certs{}, err
	}
	return cs, nil
}

// withAuth runs f while an auth-only keyway serves the cluster's data
// directory, for the commands that ask a running keyway.
func (c *cluster) withAuth(ctx context.Context, f func() error) error {
	if err := c.writeConfig("auth {}\n"); err != nil {
		return err
	}
	ready := c.path("setup.ready")
	p, err := startProcess("keyway (auth, for the setup commands)", c.path("setup.log"), nil, c.bin, "start", "-c", c.cfg, "--ready-file="+ready)
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	if err := p.waitUntil(ctx, 30*time.Second, "its ready file", func(context.Context) error {
		_, err := os.Stat(ready)
		return err
	}); err != nil {
		return err
	}
	return f()
}

// userCert signs a user certificate for the stored user, routed to
// database as pgUser.
func (c *cluster) userCert(ctx context.Context, user, database string, f certFiles) error {
	_, err := c.kw(ctx, "auth", "sign", "--format=files", "--user="+user, "--roles=access",
		"--db-users=*", "--db-names=*", "--route="+database, "--route-db-user="+pgUser, "--ttl=48h", "--out="+f.prefix)
	return err
}
