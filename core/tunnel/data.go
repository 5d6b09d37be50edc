package tunnel

import (
	"context"
	"net"
	"sync"
	"time"
)

// ALPNData carries one session from the proxy to an agent on a TLS
// connection of its own, outside the tunnel's multiplexing: the agent
// dials a few ahead of need, the proxy parks them, and a
// session takes one and writes its header there as it would on a
// tunnel stream. Its bytes then cross no framing and no goroutine of the
// tunnel's, and sessions do not queue behind each other on one
// connection.
const ALPNData = "keyway-data"

// MaxParked bounds the data connections a proxy parks for one agent,
// so that an agent cannot hold the proxy's descriptors with idle ones.
// An agent keeps db { data_connections } dialled to each proxy, at most
// as many (core/config's MaxDataConnections); a session that finds none
// parked goes through the tunnel instead.
const MaxParked = 16

// parked are the data connections an agent dialled to this proxy that
// no session took yet.
type parked struct {
	mu    sync.Mutex
	conns []net.Conn
	// closed is set when the agent's tunnel is gone: later connections
	// are refused.
	closed bool
}

// park keeps c for a session; it reports false when the agent already
// has enough parked or its tunnel closed, and the caller then closes c.
func (p *parked) park(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.conns) >= MaxParked {
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

// take returns the most recently parked connection that is still open,
// nil when none is; those found closed at the agent's end are dropped.
func (p *parked) take() net.Conn {
	for {
		c := p.pop()
		if c == nil || alive(c) {
			return c
		}
		_ = c.Close()
	}
}

// pop removes and returns the most recently parked connection.
func (p *parked) pop() net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	if n == 0 {
		return nil
	}
	c := p.conns[n-1]
	p.conns[n-1] = nil
	p.conns = p.conns[:n-1]
	return c
}

// drop closes every parked connection and refuses later ones.
func (p *parked) drop() {
	p.mu.Lock()
	conns := p.conns
	p.conns, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// openData writes the session's header on a parked data connection and
// returns it; nil when none is parked or the header could not be
// written, and the session then takes a tunnel stream.
func (a *Agent) openData(ctx context.Context, header []byte) net.Conn {
	c := a.data.take()
	if c == nil {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = c.SetWriteDeadline(deadline)
	if _, err := c.Write(header); err != nil {
		_ = c.Close()
		return nil
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c
}

// Park keeps a data connection that the agent called name dialled, for
// a session to take. It reports false, and the caller closes c, when no
// tunnel of that agent is up or enough of its connections are parked.
func (r *Registry) Park(name string, c net.Conn) bool {
	r.mu.RLock()
	var newest *Agent
	for a := range r.agents {
		if a.Name != name || a.session.IsClosed() {
			continue
		}
		if newest == nil || a.joined.After(newest.joined) {
			newest = a
		}
	}
	r.mu.RUnlock()
	return newest != nil && newest.data.park(c)
}
