package etcdtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a member may take to exit after SIGTERM.
const stopGrace = 10 * time.Second

// Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	dir       string
	logPath   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // how the process ended, once exited is closed
}

func newMember(i int, dir string) (*Member, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	return &Member{
		Name:      "m" + strconv.Itoa(i),
		ClientURL: "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		PeerURL:   "http://127.0.0.1:" + strconv.Itoa(ports[1]),
		dir:       dir,
		logPath:   filepath.Join(dir, "etcd.log"),
	}, nil
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (m *Member) start(bin, initialCluster, token string) error {
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin,
		"--name", m.Name,
		"--data-dir", filepath.Join(m.dir, "data"),
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", initialCluster,
		"--initial-cluster-token", token,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-outputs", "stderr",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Environment variables such as ETCD_DATA_DIR would override nothing
	// given as flags, but ETCD_* variables for other settings would leak in.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	m.mu.Lock()
	m.cmd = cmd
	m.exited = make(chan struct{})
	m.mu.Unlock()
	go func() {
		err := cmd.Wait()
		m.mu.Lock()
		m.err = err
		m.mu.Unlock()
		close(m.exited)
	}()
	return nil
}

// Pid is the member's process id; 0 before it started.
func (m *Member) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Running reports whether the process is running.
func (m *Member) Running() bool {
	m.mu.Lock()
	exited := m.exited
	m.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// waitHealthy polls the member's /health endpoint until it reports health
// (it has a leader and serves reads), the process exits, or ctx ends.
func (m *Member) waitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = m.healthy(ctx, client); last == nil {
			return nil
		}
		select {
		case <-m.exited:
			return fmt.Errorf("%s exited before becoming healthy: %v", m.Name, m.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy: %w (last: %v)", m.Name, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (m *Member) healthy(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return fmt.Errorf("health answer: %w", err)
	}
	if h.Health != "true" {
		return errors.New("health " + h.Health)
	}
	return nil
}

// stop ends the process and waits for it; stopping a stopped member is a
// no-op.
func (m *Member) stop() error {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopGrace):
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-exited
	return nil
}
