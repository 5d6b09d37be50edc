package apiserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

// endOrderTimeout bounds how long the auth service waits for a proxy to
// pass an order to end sessions on to the agent.
const endOrderTimeout = 10 * time.Second

// RemoteTunnels are the agents' tunnels to proxies that run without the
// auth role: each proxy opens a ProxyAuth.Tunnel stream per tunnel, and
// the auth service keeps an entry for it while the stream lasts. An
// entry holds what the agent registered, which the cluster's database
// listing reads, and the grants of the sessions the proxy routed to the
// agent; orders to end the agent's sessions go down its stream.
type RemoteTunnels struct {
	// Registry holds an agent per remote tunnel. Its agents have no
	// tunnel in this process: nothing routes through them.
	Registry *tunnel.Registry

	mu sync.Mutex
	m  map[remoteKey]*RemoteTunnel
}

// remoteKey names a tunnel: a proxy names its own tunnels, so one proxy
// cannot reach another's.
type remoteKey struct{ proxy, id string }

// NewRemoteTunnels returns an empty set.
func NewRemoteTunnels() *RemoteTunnels {
	return &RemoteTunnels{Registry: tunnel.NewRegistry(), m: map[remoteKey]*RemoteTunnel{}}
}

// RemoteTunnel is one agent's tunnel to a proxy without the auth role.
type RemoteTunnel struct {
	Agent *tunnel.Agent
	// Refusals throttles the audit records of what the agent was
	// refused.
	Refusals *Throttle
	orders   chan *apiv1.TunnelResponse

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan error
	// grants end the grants of the sessions the proxy routed here.
	grants map[string]func()
}

// open records a proxy's tunnel; it fails when the proxy already
// opened one by that id.
func (r *RemoteTunnels) open(proxy, id, agent string) (*RemoteTunnel, error) {
	if id == "" || agent == "" {
		return nil, errors.New("the tunnel's first message names no agent or tunnel")
	}
	k := remoteKey{proxy, id}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[k]; dup {
		return nil, fmt.Errorf("the proxy %s already has a tunnel %s", proxy, id)
	}
	t := &RemoteTunnel{
		Agent: r.Registry.Add(agent, nil), Refusals: NewThrottle(time.Minute),
		orders: make(chan *apiv1.TunnelResponse, 8), pending: map[uint64]chan error{}, grants: map[string]func(){},
	}
	r.m[k] = t
	return t, nil
}

// close forgets a tunnel whose stream ended, and ends the grants of its
// sessions.
func (r *RemoteTunnels) close(proxy, id string, t *RemoteTunnel) {
	r.mu.Lock()
	delete(r.m, remoteKey{proxy, id})
	r.mu.Unlock()
	r.Registry.Remove(t.Agent)
	t.mu.Lock()
	for _, end := range t.grants {
		end()
	}
	t.grants = nil
	for _, ch := range t.pending {
		ch <- errors.New("the proxy's tunnel to the agent closed")
	}
	t.pending = nil
	t.mu.Unlock()
}

// get returns a proxy's open tunnel.
func (r *RemoteTunnels) get(proxy, id string) (*RemoteTunnel, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.m[remoteKey{proxy, id}]
	return t, ok
}

// EndSessions asks every proxy with a tunnel of the agent to end its
// sessions; found is false when no proxy has one.
func (r *RemoteTunnels) EndSessions(ctx context.Context, agent, protocol string, ids []string, reason sdk.EndReason) (found bool, err error) {
	r.mu.Lock()
	var ts []*RemoteTunnel
	for _, t := range r.m {
		if t.Agent.Name == agent {
			ts = append(ts, t)
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, t := range ts {
		errs = append(errs, t.end(ctx, &apiv1.TunnelResponse{Protocol: protocol, SessionIds: ids, Kind: reason.Kind, Message: reason.Message}))
	}
	return len(ts) > 0, errors.Join(errs...)
}

// end sends an order down the tunnel's stream and waits for the proxy's
// answer.
func (t *RemoteTunnel) end(ctx context.Context, o *apiv1.TunnelResponse) error {
	ctx, cancel := context.WithTimeout(ctx, endOrderTimeout)
	defer cancel()
	done := make(chan error, 1)
	t.mu.Lock()
	if t.pending == nil {
		t.mu.Unlock()
		return nil // the tunnel closed, and its sessions with it
	}
	t.next++
	o.Order = t.next
	t.pending[o.Order] = done
	t.mu.Unlock()
	select {
	case t.orders <- o:
	case <-ctx.Done():
		return fmt.Errorf("the proxy of agent %s did not take the order to end sessions: %w", t.Agent.Name, ctx.Err())
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("the proxy of agent %s did not confirm ending the sessions: %w", t.Agent.Name, ctx.Err())
	}
}

// answered records the proxy's answer to an order.
func (t *RemoteTunnel) answered(order uint64, msg string) {
	t.mu.Lock()
	done, ok := t.pending[order]
	delete(t.pending, order)
	t.mu.Unlock()
	if !ok {
		return
	}
	if msg != "" {
		done <- errors.New(msg)
		return
	}
	done <- nil
}

// route records the grant of a session the proxy routed to the agent,
// or, with ended, the end of its session.
func (t *RemoteTunnel) route(g *Grants, sessionID string, grant func() Grant, ended bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.grants == nil {
		return
	}
	if ended {
		if end, ok := t.grants[sessionID]; ok {
			end()
			delete(t.grants, sessionID)
		}
		return
	}
	if _, dup := t.grants[sessionID]; !dup {
		t.grants[sessionID] = g.Add(grant())
	}
}
