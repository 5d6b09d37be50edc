package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// noAuditName is keyway all-in-one with session auditing off; its rows
// against keyway's give the cost of auditing.
const noAuditName = "keyway-noaudit"

// noAuditConfig is allInOneConfig with no database session events: the
// postgres plugin builds and sends none.
const noAuditConfig = allInOneConfig + `
audit {
  db_events = "none"
}
`

// noAuditCells are where keyway-noaudit runs: every select-only cell,
// where auditing's cost per transaction is largest, so that a quick run
// stays short.
func noAuditCells(c cell) bool { return c.workload == "select-only" }

// noAuditPath starts a second all-in-one keyway with session auditing
// off. It has a data directory of its own holding a copy of the first
// keyway's authorities, so the same user certificate reaches it and
// PostgreSQL accepts its database certificates.
func noAuditPath(ctx context.Context, e *env) (endpoint, error) {
	return secondKeyway(ctx, e, noAuditName, noAuditConfig)
}

// secondKeyway starts another all-in-one keyway called name with config
// (allInOneConfig's three verbs: listen address, database name, its
// address), in a data directory of its own holding a copy of the first
// keyway's authorities.
func secondKeyway(ctx context.Context, e *env, name, config string) (endpoint, error) {
	_, p, port, err := copyKeyway(ctx, e, name, func(listen string) string {
		return fmt.Sprintf(config, listen, keywayDB, e.pg.Addr())
	})
	if err != nil {
		return endpoint{}, err
	}
	ep := userEndpoint("127.0.0.1", port, e.certs.user)
	if err := p.waitUntil(ctx, 30*time.Second, "session through "+name+"'s proxy", ep.ping); err != nil {
		return endpoint{}, err
	}
	ep.servers = []int{p.pid()}
	return ep, nil
}

// copyKeyway starts a keyway process called name in a data directory of
// its own holding a copy of the first keyway's authorities, so the same
// user certificates reach it and PostgreSQL accepts its database
// certificates. config returns its configuration's roles for the proxy's
// listen address. It returns once the process wrote its ready file.
func copyKeyway(ctx context.Context, e *env, name string, config func(listen string) string) (*cluster, *process, int, error) {
	if e.keyway == nil {
		return nil, nil, 0, fmt.Errorf("%s copies the all-in-one keyway's authorities, and that keyway did not start", name)
	}
	dir := filepath.Join(e.dir, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, nil, 0, fmt.Errorf("%s directory: %w", name, err)
	}
	c := &cluster{bin: e.cluster.bin, dir: dir, cfg: filepath.Join(dir, "keyway.hcl"), data: filepath.Join(dir, "data")}
	if err := copyTree(filepath.Join(e.cluster.data, "plugins"), filepath.Join(c.data, "plugins")); err != nil {
		return nil, nil, 0, fmt.Errorf("copying the authorities: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, 0, err
	}
	if err := c.writeConfig(config(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))); err != nil {
		return nil, nil, 0, err
	}
	ready := filepath.Join(dir, "ready")
	p, err := startProcess(name, filepath.Join(dir, "keyway.log"), nil, c.bin, "start", "-c", c.cfg, "--ready-file="+ready)
	if err != nil {
		return nil, nil, 0, err
	}
	e.onClose(func() { p.stop(10 * time.Second) })
	if err := p.waitUntil(ctx, 30*time.Second, "its ready file", func(context.Context) error {
		_, err := os.Stat(ready)
		return err
	}); err != nil {
		return nil, nil, 0, err
	}
	return c, p, port, nil
}

// copyTree copies the directory src to dst, keeping file modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = in.Close() }()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			_ = out.Close()
			return err
		}
		return out.Close()
	})
}
