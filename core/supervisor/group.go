package supervisor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// reapTimeout bounds the wait for go-plugin to notice a plugin whose
// process group was killed: its output pipes close once every process of
// the group is gone, which the kernel does at once for SIGKILL.
const reapTimeout = 2 * time.Second

// pluginCommand returns the command that runs a plugin in a process group
// of its own, and a function that kills that whole group. Killing the
// group, not just the plugin, matters because a child the plugin forked
// inherits its standard output, and go-plugin waits for that pipe to close
// before it lets go of the plugin.
func pluginCommand(path string, args ...string) (*exec.Cmd, context.CancelFunc) {
	ctx, kill := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, args...)
	// Pdeathsig kills the plugin with keyway; Setpgid makes it the leader
	// of a new group whose id is its pid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	// The command's context is cancelled only to kill the plugin: os/exec
	// then calls Cancel, which it guarantees to run after Start and
	// before Wait, so the pid it reads is the plugin's.
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	return cmd, kill
}

// killGroup kills every process of the plugin's group. The explicit kill
// also reaches children that outlived the plugin itself, once os/exec has
// reaped it and no longer calls Cancel.
func (p *process) killGroup() {
	p.kill()
	if p.pid > 0 {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}

// stop ends the plugin and waits for it, never unboundedly: it asks the
// plugin to exit (go-plugin closes the connection and the plugin shuts
// down, flushing what it holds), waits at most grace, then kills the
// plugin's process group and waits at most reapTimeout for go-plugin to
// let go. A frozen plugin, or one whose child holds its output pipes, thus
// costs at most grace plus reapTimeout.
func (p *process) stop(grace time.Duration, logger hclog.Logger) {
	closeSender(p)
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		logger.Warn("plugin did not exit within its grace period; killing its process group", "grace", grace, "pid", p.pid)
	}
	// Even a plugin that exited may have left children behind.
	p.killGroup()
	timer.Reset(reapTimeout)
	select {
	case <-done:
	case <-timer.C:
		logger.Error("plugin's output pipes are still open after its process group was killed; giving up on it", "pid", p.pid)
	}
	if err := os.RemoveAll(p.socketDir); err != nil {
		logger.Warn("cannot remove the plugin's socket directory", "dir", p.socketDir, "error", err)
	}
	// What the plugin wrote into its audit pipe before it ended is on
	// record before the plugin counts as stopped, so that keyway closes
	// its audit log only after it.
	timer.Reset(auditDrainTimeout)
	select {
	case <-p.auditDone:
	case <-timer.C:
		logger.Error("the plugin's last audit events were not recorded in time", "pid", p.pid, "waited", auditDrainTimeout)
	}
	p.goneOnce.Do(func() { close(p.gone) })
}

// auditDrainTimeout bounds the wait for a stopped plugin's last audit
// events to be recorded.
const auditDrainTimeout = 10 * time.Second

func closeSender(p *process) {
	if p.sender != nil {
		_ = p.sender.Close()
	}
}
