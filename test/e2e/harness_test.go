package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/admin"
)

// node is one running `keyway start`.
type node struct {
	t       *testing.T
	cmd     *exec.Cmd
	cfgPath string
	dataDir string
	mu      sync.Mutex
	stderr  bytes.Buffer
	exited  chan struct{}
}

type lockedWriter struct{ n *node }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	return w.n.stderr.Write(p)
}

// writeConfig writes an HCL file whose data_dir is a fresh directory.
func writeConfig(t *testing.T, body string) (path, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	path = filepath.Join(dir, "keyway.hcl")
	src := "cluster_name = \"e2e\"\ndata_dir = \"" + dataDir + "\"\n" + body
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dataDir
}

// startNode runs keyway start and waits until its admin socket answers.
func startNode(t *testing.T, cfgPath, dataDir string) *node {
	t.Helper()
	n, err := tryStartNode(t, cfgPath, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tryStartNode is startNode that returns why keyway did not become
// ready, with the node that tried.
func tryStartNode(t *testing.T, cfgPath, dataDir string) (*node, error) {
	t.Helper()
	n := launchNode(t, cfgPath, dataDir, exec.Command(built.keyway, "start", "-c", cfgPath))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := admin.NewClient(admin.SocketPath(dataDir))
	for {
		if err := c.Ready(ctx); err == nil {
			return n, nil
		}
		select {
		case <-n.exited:
			return n, fmt.Errorf("keyway exited during start:\n%s", n.logs())
		case <-ctx.Done():
			return n, fmt.Errorf("keyway not ready in time:\n%s", n.logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// launchNode starts cmd, a keyway start, keeping its stderr, and kills
// it when the test ends (showing its stderr if the test failed). It does
// not wait for keyway to serve.
func launchNode(t *testing.T, cfgPath, dataDir string, cmd *exec.Cmd) *node {
	t.Helper()
	n := &node{t: t, cfgPath: cfgPath, dataDir: dataDir, exited: make(chan struct{}), cmd: cmd}
	n.cmd.Stderr = lockedWriter{n}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("keyway stderr:\n%s", n.logs())
		}
	})
	return n
}

func (n *node) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stderr.String()
}

// plugins lists the node's plugins through the CLI, as JSON.
func (n *node) plugins() []admin.Plugin {
	n.t.Helper()
	out, err := exec.Command(built.keyway, "plugins", "ls", "-c", n.cfgPath, "--format", "json").Output()
	if err != nil {
		n.t.Fatalf("plugins ls: %v", err)
	}
	var rows []admin.Plugin
	if err := json.Unmarshal(out, &rows); err != nil {
		n.t.Fatalf("plugins ls output %q: %v", out, err)
	}
	return rows
}

func (n *node) plugin(name string) admin.Plugin {
	n.t.Helper()
	for _, p := range n.plugins() {
		if p.Name == name {
			return p
		}
	}
	n.t.Fatalf("no plugin %q listed", name)
	return admin.Plugin{}
}

// waitGone waits until none of pids exists.
func waitGone(pids []int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var alive []int
		for _, pid := range pids {
			if processAlive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("processes still alive: " + pidList(alive))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processAlive reports whether pid exists and is not a zombie, reading
// /proc.
func processAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func signal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, pid, err)
	}
}

// writeInvite saves the invite that keyway users add printed in added to
// a 0600 file under dir, and returns its path.
func writeInvite(t *testing.T, dir, added string) string {
	t.Helper()
	invite := regexp.MustCompile(`(?m)^\s+([0-9a-f]{32})$`).FindStringSubmatch(added)
	if invite == nil {
		t.Fatalf("no invite in:\n%s", added)
	}
	path := filepath.Join(dir, "invite")
	if err := os.WriteFile(path, []byte(invite[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
