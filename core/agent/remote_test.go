package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
)

// fakeAgentClient answers Audit and Authorize with err, counting calls.
type fakeAgentClient struct {
	apiv1.AgentClient
	err    error
	audits [][][]byte
}

func (f *fakeAgentClient) Audit(_ context.Context, req *apiv1.AuditRequest, _ ...grpc.CallOption) (*apiv1.AuditResponse, error) {
	f.audits = append(f.audits, req.GetEventsJson())
	if f.err != nil {
		return nil, f.err
	}
	return &apiv1.AuditResponse{}, nil
}

func (f *fakeAgentClient) Authorize(context.Context, *apiv1.AuthorizeRequest, ...grpc.CallOption) (*apiv1.AuthorizeResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &apiv1.AuthorizeResponse{Allow: true}, nil
}

func TestRemoteWithoutTunnelsFails(t *testing.T) {
	var r Remote
	if err := r.Emit(t.Context(), audit.Event{Event: "x"}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Emit without a tunnel: %v", err)
	}
	if r.Connected() {
		t.Fatal("connected without a tunnel")
	}
}

func TestRemoteFallsThroughUnavailableTunnels(t *testing.T) {
	var r Remote
	dead := &fakeAgentClient{err: status.Error(codes.Unavailable, "error reading from server: EOF")}
	live := &fakeAgentClient{}
	detach := r.Attach("a:1", dead)
	r.Attach("b:1", live)
	if got := r.Proxies(); !slices.Equal(got, []string{"a:1", "b:1"}) {
		t.Fatalf("proxies %v, want the oldest first", got)
	}
	if err := r.EmitDurable(t.Context(), audit.Event{Event: "db.session.start", SessionID: "s1", Index: 1}); err != nil {
		t.Fatalf("EmitDurable with one live tunnel: %v", err)
	}
	if len(dead.audits) != 1 || len(live.audits) != 1 {
		t.Fatalf("the batch went %d times through the dead tunnel and %d through the live one, want once each", len(dead.audits), len(live.audits))
	}
	if resp, err := r.Authorize(t.Context(), &apiv1.AuthorizeRequest{}); err != nil || !resp.GetAllow() {
		t.Fatalf("Authorize through the live tunnel: %v, %v", resp, err)
	}
	detach()
	if got := r.Proxies(); !slices.Equal(got, []string{"b:1"}) {
		t.Fatalf("after detaching a:1: %v", got)
	}
}

func TestRemoteDoesNotRetryAnAnswer(t *testing.T) {
	var r Remote
	refusing := &fakeAgentClient{err: status.Error(codes.InvalidArgument, "decoding an audit event")}
	other := &fakeAgentClient{}
	r.Attach("a:1", refusing)
	r.Attach("b:1", other)
	err := r.Emit(t.Context(), audit.Event{Event: "x"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Emit: %v, want the proxy's answer", err)
	}
	if len(other.audits) != 0 {
		t.Fatal("a batch the proxy answered went through another tunnel too")
	}
}

func TestRemoteStopsWhenTheCallerGivesUp(t *testing.T) {
	var r Remote
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	first := &fakeAgentClient{err: status.Error(codes.Unavailable, "context canceled")}
	second := &fakeAgentClient{}
	r.Attach("a:1", first)
	r.Attach("b:1", second)
	if err := r.Emit(ctx, audit.Event{Event: "x"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("Emit with a cancelled context: %v", err)
	}
	if len(second.audits) != 0 {
		t.Fatal("retried after the caller's context ended")
	}
}

// closingClient fails like a call in flight when its tunnel's gRPC
// connection closes, and detaches its link first, as the tunnel does.
type closingClient struct {
	fakeAgentClient
	detach func()
}

func (c *closingClient) Authorize(context.Context, *apiv1.AuthorizeRequest, ...grpc.CallOption) (*apiv1.AuthorizeResponse, error) {
	c.detach()
	return nil, status.Error(codes.Canceled, "grpc: the client connection is closing")
}

func TestRemoteRetriesACallWhoseTunnelBroke(t *testing.T) {
	var r Remote
	closing := &closingClient{}
	closing.detach = r.Attach("a:1", closing)
	r.Attach("b:1", &fakeAgentClient{})
	resp, err := r.Authorize(t.Context(), &apiv1.AuthorizeRequest{})
	if err != nil || !resp.GetAllow() {
		t.Fatalf("Authorize while the first tunnel closes: %v, %v", resp, err)
	}
}

// TestRemoteSendsASessionsCallsThroughItsTunnel checks that a session's
// decision and audit events go to the proxy that routed it, not to the
// oldest tunnel, that a batch mixing sessions is split by proxy, and that
// a session whose proxy is gone is not sent to another.
func TestRemoteSendsASessionsCallsThroughItsTunnel(t *testing.T) {
	var r Remote
	oldest, routing := &fakeAgentClient{}, &fakeAgentClient{}
	r.Attach("a:1", oldest)
	detach := r.Attach("b:1", routing)
	end := r.BindSession("s-b", "b:1")
	r.BindSession("s-b2", "b:1")
	if _, err := r.Authorize(t.Context(), &apiv1.AuthorizeRequest{SessionId: "s-b"}); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	err := r.Emit(t.Context(),
		audit.Event{Event: audit.SessionStart, SessionID: "s-b", Index: 1},
		audit.Event{Event: audit.SessionStart, SessionID: "s-other", Index: 1},
		audit.Event{Event: audit.SessionStart, SessionID: "s-b2", Index: 1},
		audit.Event{Event: audit.SessionQuery, SessionID: "s-b", Index: 2},
	)
	if err != nil {
		t.Fatalf("Emit: %v", err)
	}
	if len(routing.audits) != 1 || len(routing.audits[0]) != 3 {
		t.Fatalf("the routing proxy got batches %q, want one with the three events of the two sessions it routed", routing.audits)
	}
	var order []string
	for _, b := range routing.audits[0] {
		var e audit.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		order = append(order, fmt.Sprintf("%s/%d", e.SessionID, e.Index))
	}
	if got := strings.Join(order, " "); got != "s-b/1 s-b2/1 s-b/2" {
		t.Fatalf("the routing proxy got %s; want the batch's order", got)
	}
	if len(oldest.audits) != 1 || len(oldest.audits[0]) != 1 {
		t.Fatalf("the oldest tunnel got batches %q, want one with the unbound session's event", oldest.audits)
	}
	end()
	detach()
	err = r.Emit(t.Context(), audit.Event{Event: audit.SessionEnd, SessionID: "s-b", Index: 3})
	if status.Code(err) != codes.Unavailable || len(oldest.audits) != 1 {
		t.Fatalf("an ended session's event with its proxy gone: %v, oldest tunnel batches %d; want Unavailable and nothing sent elsewhere", err, len(oldest.audits))
	}
}

// TestRemoteSendsPluginEventsAsEncoded checks that a plugin's events go
// to the proxy that routed their session as the plugin encoded them, and
// that an event that is not JSON is refused before anything is sent.
func TestRemoteSendsPluginEventsAsEncoded(t *testing.T) {
	var r Remote
	oldest, routing := &fakeAgentClient{}, &fakeAgentClient{}
	r.Attach("a:1", oldest)
	r.Attach("b:1", routing)
	r.BindSession("s-b", "b:1")
	objects := [][]byte{
		[]byte(`{"event":"session.query","sid":"s-b","ei":2,"query":"select 1"}`),
		[]byte(`{"event":"session.start","sid":"s-other","ei":1}`),
	}
	if err := r.EmitJSON(t.Context(), true, objects); err != nil {
		t.Fatalf("EmitJSON: %v", err)
	}
	if len(routing.audits) != 1 || !bytes.Equal(routing.audits[0][0], objects[0]) {
		t.Fatalf("the routing proxy got %q; want the plugin's bytes of s-b's event", routing.audits)
	}
	if len(oldest.audits) != 1 || !bytes.Equal(oldest.audits[0][0], objects[1]) {
		t.Fatalf("the oldest tunnel got %q; want the unbound session's event", oldest.audits)
	}
	err := r.EmitJSON(t.Context(), false, [][]byte{objects[0], []byte(`{"sid":`)})
	if err == nil || !strings.Contains(err.Error(), "decoding an audit event") {
		t.Fatalf("EmitJSON with a broken event: %v; want a decoding error", err)
	}
	if len(routing.audits) != 1 {
		t.Fatalf("a batch with a broken event was sent in part: %q", routing.audits)
	}
}

func TestRemoteReadsTheSessionOfEachEvent(t *testing.T) {
	tests := []struct {
		name  string
		event string
		// to is the tunnel that gets the event, "" when it is refused.
		to string
	}{
		{"its session's proxy", `{"event":"db.session.query","sid":"s-b","query":"select '\"sid\":\"x\"'"}`, "b:1"},
		{"an escaped session id", `{"sid":"s-\u0062"}`, "b:1"},
		{"no session: the oldest tunnel", `{"event":"db.session.query"}`, "a:1"},
		{"an unknown session: the oldest tunnel", `{"sid":"s-other"}`, "a:1"},
		{"a session id that is not a string", `{"sid":7}`, ""},
		{"not an object", `["sid","s-b"]`, ""},
		{"not JSON", `{"sid":"s-b"`, ""},
		{"nested too deep", `{"a":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `,"sid":"s-b"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Remote
			clients := map[string]*fakeAgentClient{"a:1": {}, "b:1": {}}
			r.Attach("a:1", clients["a:1"])
			r.Attach("b:1", clients["b:1"])
			r.BindSession("s-b", "b:1")
			err := r.EmitJSON(t.Context(), false, [][]byte{[]byte(tt.event)})
			if tt.to == "" {
				if err == nil || !strings.Contains(err.Error(), "decoding an audit event") {
					t.Fatalf("EmitJSON = %v; want a decoding error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for addr, c := range clients {
				if got := len(c.audits); got != map[bool]int{true: 1}[addr == tt.to] {
					t.Fatalf("tunnel %s got %d batches", addr, got)
				}
			}
		})
	}
}
