// Package etcdtest starts a real etcd cluster for tests: Debian's
// etcd-server (apt-get install etcd-server, /usr/bin/etcd) run on loopback
// with free ports and data directories under t.TempDir(). The members die
// with the test: on t.Cleanup, and through Pdeathsig if the test process
// itself dies.
package etcdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// BinaryEnv names an environment variable that overrides the etcd binary.
const BinaryEnv = "KEYWAY_ETCD"

// DefaultBinary is where Debian's etcd-server installs etcd.
const DefaultBinary = "/usr/bin/etcd"

// readyTimeout bounds the wait for a started cluster to become healthy.
const readyTimeout = 60 * time.Second

// Cluster is a running etcd cluster.
type Cluster struct {
	t       testing.TB
	members []*Member
}

// Start runs an etcd cluster of the given number of members until the test
// ends, and returns once every member reports itself healthy.
func Start(t testing.TB, members int) *Cluster {
	t.Helper()
	if members < 1 {
		t.Fatalf("etcdtest: %d members", members)
	}
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t}
	for i := range members {
		m, err := newMember(i, t.TempDir())
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		c.members = append(c.members, m)
	}
	t.Cleanup(c.stopAll)
	initial := c.initialCluster()
	token := fmt.Sprintf("keyway-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, m := range c.members {
		if err := m.start(bin, initial, token); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for _, m := range c.members {
		if err := m.waitHealthy(ctx); err != nil {
			c.dumpLogs()
			t.Fatalf("etcdtest: %v", err)
		}
	}
	return c
}

// Binary finds the etcd binary: $KEYWAY_ETCD, /usr/bin/etcd, or etcd on
// the PATH.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p, nil
	}
	if _, err := os.Stat(DefaultBinary); err == nil {
		return DefaultBinary, nil
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("etcdtest: no etcd binary found: install Debian's etcd-server (apt-get install etcd-server) or set %s", BinaryEnv)
}

// Version is the first line of `etcd --version`, e.g. "etcd Version: 3.4.23".
func Version() (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("etcdtest: %s --version: %w", bin, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line, nil
}

// Endpoints are the client URLs of the members still running.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		if m.Running() {
			eps = append(eps, m.ClientURL)
		}
	}
	return eps
}

// Members are the cluster's members, in the order they were created.
func (c *Cluster) Members() []*Member { return c.members }

// Member is member i.
func (c *Cluster) Member(i int) *Member { return c.members[i] }

// StopMember stops member i (SIGTERM, then SIGKILL after a grace period)
// and waits until it has exited.
func (c *Cluster) StopMember(i int) {
	c.t.Helper()
	if err := c.members[i].stop(); err != nil {
		c.t.Fatalf("etcdtest: stopping %s: %v", c.members[i].Name, err)
	}
}

func (c *Cluster) initialCluster() string {
	parts := make([]string, len(c.members))
	for i, m := range c.members {
		parts[i] = m.Name + "=" + m.PeerURL
	}
	return strings.Join(parts, ",")
}

// stopAll stops every member, showing their logs when the test failed.
func (c *Cluster) stopAll() {
	if c.t.Failed() {
		c.dumpLogs()
	}
	for _, m := range c.members {
		if err := m.stop(); err != nil {
			c.t.Logf("etcdtest: stopping %s: %v", m.Name, err)
		}
	}
}

func (c *Cluster) dumpLogs() {
	for _, m := range c.members {
		if b, err := os.ReadFile(m.logPath); err == nil {
			c.t.Logf("etcd %s log (last 4 KiB):\n%s", m.Name, tail(b, 4096))
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
