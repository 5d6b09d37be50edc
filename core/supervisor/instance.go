package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// State is where a plugin is in its life.
type State string

// The states of a plugin.
const (
	StateRunning    State = "running"
	StateRestarting State = "restarting"
	StateFailed     State = "failed"
	StateStopped    State = "stopped"
)

// Status is a plugin's state as shown to operators.
type Status struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Version    string `json:"version"`
	APIVersion uint32 `json:"api_version"`
	Builtin    bool   `json:"builtin"`
	State      State  `json:"state"`
	PID        int    `json:"pid"`
	Restarts   int    `json:"restarts"`
	LastError  string `json:"last_error,omitempty"`
}

// Instance supervises one plugin: it relaunches the process when it exits
// or stops answering health checks.
type Instance struct {
	spec   Spec
	env    launchEnv
	policy Policy
	logger hclog.Logger

	mu       sync.Mutex
	state    State
	proc     *process
	info     Info
	ready    chan struct{} // closed while running
	restarts int
	crashes  []time.Time
	lastErr  error

	stop chan struct{}
	done chan struct{}
}

func newInstance(spec Spec, proc *process, env launchEnv, policy Policy) *Instance {
	ready := make(chan struct{})
	close(ready)
	return &Instance{
		spec: spec, env: env, policy: policy,
		logger: env.logger.Named("supervisor").With("plugin", spec.Name),
		state:  StateRunning, proc: proc, info: proc.info, ready: ready,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// Name is the plugin's configured name.
func (in *Instance) Name() string { return in.spec.Name }

// Info is what the plugin reported at its last launch.
func (in *Instance) Info() Info {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.info
}

// Status reports the plugin's state.
func (in *Instance) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := Status{
		Name: in.spec.Name, Kind: in.info.Kind.String(), Version: in.info.Version,
		APIVersion: in.info.APIVersion, Builtin: in.spec.Builtin, State: in.state,
		Restarts: in.restarts,
	}
	if in.proc != nil && in.state == StateRunning {
		st.PID = in.proc.pid
	}
	if in.lastErr != nil {
		st.LastError = in.lastErr.Error()
	}
	return st
}

// Conn waits until the plugin is running and returns its clients.
func (in *Instance) Conn(ctx context.Context) (*Conn, error) {
	p, err := in.running(ctx)
	if err != nil {
		return nil, err
	}
	return p.conn, nil
}

// Handoff passes a client connection to a protocol plugin, waiting for the
// plugin while it restarts. The caller closes its copy of conn afterwards.
func (in *Instance) Handoff(ctx context.Context, conn syscall.Conn, sess *pluginv1.Session) error {
	_, err := in.handoff(ctx, conn, sess, nil)
	return err
}

// HandoffClientTLS passes a client connection before TLS to a protocol
// plugin that completes TLS itself (sess.ClientTls). It reports false,
// having sent nothing, when the plugin does not; the caller then completes
// TLS and uses Handoff.
func (in *Instance) HandoffClientTLS(ctx context.Context, conn syscall.Conn, sess *pluginv1.Session) (bool, error) {
	p, err := in.handoff(ctx, conn, sess, func(p *process) bool { return p.clientTLS })
	return p != nil, err
}

// HandoffDataTLS passes an agent's data connection before TLS to a
// protocol plugin that completes its TLS itself (sess.DataTls). It
// returns a channel closed once the plugin's process that took the
// connection stopped, which then ended it; nil, having sent nothing,
// when the plugin does not take such connections.
func (in *Instance) HandoffDataTLS(ctx context.Context, conn syscall.Conn, sess *pluginv1.Session) (gone <-chan struct{}, err error) {
	p, err := in.handoff(ctx, conn, sess, func(p *process) bool { return p.dataTLS })
	if p == nil {
		return nil, err
	}
	return p.gone, err
}

// handoff sends conn to the running plugin when it can take it (takes
// nil: any plugin that takes connections).
func (in *Instance) handoff(ctx context.Context, conn syscall.Conn, sess *pluginv1.Session, takes func(*process) bool) (*process, error) {
	payload, err := proto.Marshal(sess)
	if err != nil {
		return nil, fmt.Errorf("encoding session: %w", err)
	}
	for {
		p, err := in.running(ctx)
		if err != nil {
			return nil, err
		}
		if p.sender == nil {
			return nil, fmt.Errorf("plugin %q is a %s plugin and takes no connections", in.spec.Name, p.info.Kind)
		}
		if takes != nil && !takes(p) {
			return nil, nil
		}
		err = p.sender.Send(conn, payload)
		if err == nil {
			return p, nil
		}
		// The plugin is going away; wait for its replacement.
		in.logger.Debug("handoff failed; waiting for the plugin", "error", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("plugin %q did not take the connection: %w", in.spec.Name, err)
		case <-time.After(in.policy.CheckInterval):
		}
	}
}

// running waits for a running process.
func (in *Instance) running(ctx context.Context) (*process, error) {
	for {
		in.mu.Lock()
		state, ready, p, lastErr := in.state, in.ready, in.proc, in.lastErr
		in.mu.Unlock()
		switch state {
		case StateFailed:
			return nil, fmt.Errorf("plugin %q has failed: %w", in.spec.Name, lastErr)
		case StateStopped:
			return nil, ErrStopped
		}
		select {
		case <-ready:
			if state == StateRunning && !p.client.Exited() {
				return p, nil
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("plugin %q is not running: %w", in.spec.Name, ctx.Err())
			case <-time.After(in.policy.CheckInterval):
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("plugin %q is restarting: %w", in.spec.Name, ctx.Err())
		}
	}
}

// monitor watches the process and relaunches it when it exits or fails
// its health checks (see health.go).
func (in *Instance) monitor() {
	defer close(in.done)
	tick := time.NewTicker(in.policy.CheckInterval)
	defer tick.Stop()
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	h := newHealthState(p, time.Now())
	for {
		select {
		case <-in.stop:
			return
		case <-tick.C:
		}
		reason, grace := "", in.policy.StopGrace
		if p.client.Exited() {
			reason = "plugin process exited"
		} else if time.Since(h.checked) >= in.healthDue(h.unhealthy) {
			if reason = in.check(p, h); reason != "" {
				grace = 0
			}
		}
		if reason == "" {
			continue
		}
		if !in.recover(errors.New(reason), grace) {
			return
		}
		// recover, called only here, is the one place in.proc changes.
		in.mu.Lock()
		p = in.proc
		in.mu.Unlock()
		h = newHealthState(p, time.Now())
	}
}

// recover stops the plugin's process, giving it grace to exit by itself,
// and relaunches it with backoff. It returns false when the plugin was
// marked failed or the supervisor is stopping.
func (in *Instance) recover(cause error, grace time.Duration) bool {
	in.mu.Lock()
	old := in.proc
	in.state, in.ready, in.lastErr = StateRestarting, make(chan struct{}), cause
	in.mu.Unlock()
	old.stop(grace, in.logger)
	for {
		now := time.Now()
		in.mu.Lock()
		in.crashes = append(pruneBefore(in.crashes, now.Add(-in.policy.CrashWindow)), now)
		n := len(in.crashes)
		in.mu.Unlock()
		if n > in.policy.MaxCrashes {
			in.logger.Error("plugin keeps crashing; giving up", "crashes", n, "window", in.policy.CrashWindow, "last_error", cause)
			in.setFinal(StateFailed, fmt.Errorf("crashed %d times in %s, last: %w", n, in.policy.CrashWindow, cause))
			return false
		}
		delay := in.policy.backoff(n)
		in.logger.Warn("restarting plugin", "cause", cause, "delay", delay, "attempt", n)
		select {
		case <-in.stop:
			return false
		case <-time.After(delay):
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-in.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		p, err := launch(ctx, in.spec, in.env)
		cancel()
		if err != nil {
			cause = err
			in.mu.Lock()
			in.lastErr = err
			in.mu.Unlock()
			continue
		}
		in.mu.Lock()
		in.proc, in.info, in.state = p, p.info, StateRunning
		in.restarts++
		close(in.ready)
		in.mu.Unlock()
		in.logger.Info("plugin restarted", "pid", p.pid)
		return true
	}
}

func (in *Instance) setFinal(s State, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.state = s
	if err != nil {
		in.lastErr = err
	}
	close(in.ready)
}

// shutdown stops monitoring and stops the process, gracefully within
// Policy.StopGrace, then by killing its process group.
func (in *Instance) shutdown() {
	close(in.stop)
	<-in.done
	in.mu.Lock()
	p := in.proc
	wasFailed := in.state == StateFailed
	in.state = StateStopped
	in.mu.Unlock()
	if p != nil && !wasFailed {
		p.stop(in.policy.StopGrace, in.logger)
	}
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	kept := ts[:0]
	for _, t := range ts {
		if t.After(cutoff) {
			kept = append(kept, t)
		}
	}
	return kept
}
