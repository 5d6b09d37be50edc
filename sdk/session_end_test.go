package sdk

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// endingPlugin reports the reason each of its sessions ended with.
type endingPlugin struct {
	Plugin
	reasons chan EndReason
	idle    time.Duration
}

func (p endingPlugin) ServeSession(_ context.Context, s *Session) {
	s.EndWhenIdle(p.idle, "idle")
	<-s.Ending()
	p.reasons <- s.EndReason()
}

// TestEndSessionsReachesTheNamedSessions ends one of two live sessions
// by id, and another by idleness; ActiveSessions follows.
func TestEndSessionsReachesTheNamedSessions(t *testing.T) {
	impl := endingPlugin{reasons: make(chan EndReason, 2), idle: time.Hour}
	srv := newProtocolServer(impl, hclog.NewNullLogger(), nil)
	start := func(id string) {
		a, b := net.Pipe()
		t.Cleanup(func() { _ = a.Close() })
		go srv.run(srv.newSession(b, &pluginv1.Session{Id: id}))
	}
	start("one")
	start("two")
	waitFor(t, func() bool { return len(srv.live.ids()) == 2 })

	resp, err := srv.EndSessions(context.Background(), &pluginv1.EndSessionsRequest{SessionIds: []string{"two", "absent"}, Kind: EndLocked, Message: "locked"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.GetEnded(), []string{"two"}) {
		t.Fatalf("ended %v, want [two]", resp.GetEnded())
	}
	if r := <-impl.reasons; r != (EndReason{Kind: EndLocked, Message: "locked"}) {
		t.Fatalf("session two ended with %+v", r)
	}
	waitFor(t, func() bool { return slices.Equal(srv.live.ids(), []string{"one"}) })
	select {
	case r := <-impl.reasons:
		t.Fatalf("session one ended too: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestEndWhenIdleCountsClientTraffic ends a session only once its client
// has been quiet for the whole timeout, and never while a request of
// the client waits for its answer.
func TestEndWhenIdleCountsClientTraffic(t *testing.T) {
	s := &Session{end: newEnding(time.Now())}
	s.EndWhenIdle(300*time.Millisecond, "idle")
	deadline := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(deadline) {
		s.CountFromClient(1)
		s.Waiting()
		if s.EndReason().Kind != "" {
			t.Fatal("a session with client traffic ended as idle")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A request that runs longer than the timeout.
	s.CountFromClient(1)
	time.Sleep(700 * time.Millisecond)
	if s.EndReason().Kind != "" {
		t.Fatal("a session waiting for an answer ended as idle")
	}
	s.Waiting()
	select {
	case <-s.Ending():
	case <-time.After(2 * time.Second):
		t.Fatal("a quiet session did not end")
	}
	if r := s.EndReason(); r.Kind != EndIdle || r.Message != "idle" {
		t.Fatalf("ended with %+v", r)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAfterEndRunsOnceTheSessionEnds runs the callback when keyway ends
// the session, with the reason in place, and not once it was stopped.
func TestAfterEndRunsOnceTheSessionEnds(t *testing.T) {
	tests := []struct {
		name    string
		stop    bool
		wantRun bool
	}{
		{name: "ended by keyway", wantRun: true},
		{name: "stopped before the end", stop: true, wantRun: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Session{end: newEnding(time.Now())}
			got := make(chan EndReason, 1)
			stop := s.AfterEnd(func() { got <- s.EndReason() })
			if tc.stop && !stop() {
				t.Fatal("stop reported the callback as started before the session ended")
			}
			s.End(EndReason{Kind: EndLocked, Message: "locked"})
			select {
			case r := <-got:
				if !tc.wantRun {
					t.Fatalf("the callback ran after stop, with %+v", r)
				}
				if r.Kind != EndLocked {
					t.Fatalf("the callback saw the reason %+v, want kind %q", r, EndLocked)
				}
			case <-time.After(200 * time.Millisecond):
				if tc.wantRun {
					t.Fatal("the callback did not run after the session ended")
				}
			}
		})
	}
}
