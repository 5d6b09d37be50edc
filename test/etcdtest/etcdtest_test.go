package etcdtest

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func TestStartAndStopMember(t *testing.T) {
	v, err := Version()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("using %s", v)
	c := Start(t, 3)
	if n := len(c.Endpoints()); n != 3 {
		t.Fatalf("%d endpoints, want 3", n)
	}
	pid := c.Member(1).Pid()
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("member 1 has no live process (pid %d)", pid)
	}
	c.StopMember(1)
	if c.Member(1).Running() {
		t.Fatal("member 1 still running after StopMember")
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("process %d still exists", pid)
	}
	if n := len(c.Endpoints()); n != 2 {
		t.Fatalf("%d endpoints after a stop, want 2", n)
	}
	// Two of three members keep a quorum.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Member(0).waitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}
