package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// env is everything the paths share: a working directory, the keyway
// cluster and its certificates, and PostgreSQL with pgbench's tables.
type env struct {
	opts    options
	dir     string
	cluster *cluster
	certs   certs
	pg      *pgtest.Server
	// keyway is the all-in-one keyway process, once its path started;
	// the memory measurements read its RSS, the other keyway paths copy
	// its authorities.
	keyway *process
	// keywayEndpoint is how a user reaches the database through it.
	keywayEndpoint endpoint
	// agent is the separate agent's process once its path started,
	// agentProxy the proxy it joined (no database of its own), and
	// agentEndpoint how a user reaches its database.
	agent         *process
	agentProxy    *process
	agentEndpoint endpoint
	// log receives progress lines.
	log     io.Writer
	closers []func()
}

// newEnv creates the working directory, issues the certificates and
// starts PostgreSQL. Close it when done, also after an error.
func newEnv(ctx context.Context, o options, keywayBin string, log io.Writer) (*env, error) {
	dir, err := os.MkdirTemp("", "keyway-bench-")
	if err != nil {
		return nil, fmt.Errorf("creating the working directory: %w", err)
	}
	e := &env{opts: o, dir: dir, log: log}
	e.onClose(func() { _ = os.RemoveAll(dir) })
	// pgbouncer, running as PostgreSQL's user, reaches its own
	// subdirectory through this one; the keys elsewhere stay 0600.
	if err := os.Chmod(dir, 0o711); err != nil {
		return e, fmt.Errorf("working directory: %w", err)
	}
	if e.cluster, err = newCluster(keywayBin, dir); err != nil {
		return e, err
	}
	fmt.Fprintln(log, "issuing certificates with the keyway CLI")
	if e.certs, err = e.cluster.issueCerts(ctx); err != nil {
		return e, err
	}
	fmt.Fprintf(log, "starting PostgreSQL, pgbench tables at scale %d\n", o.scale)
	if e.pg, err = startPostgres(ctx, o, e.certs); err != nil {
		return e, err
	}
	e.onClose(e.pg.Stop)
	return e, nil
}

// onClose registers cleanup; close runs it in reverse order.
func (e *env) onClose(f func()) { e.closers = append(e.closers, f) }

// close stops everything the benchmark started.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// credential is the user that servers refusing root run as.
func (e *env) credential() *syscall.Credential { return e.pg.Credential() }

// chown gives path to that user, so it can read its configuration.
func (e *env) chown(path string) error {
	cred := e.credential()
	if cred == nil {
		return nil
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}
