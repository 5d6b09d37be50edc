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

// DataWait is how long a session waits for a data connection when the
// agent keeps them but none is parked, as in a burst of new sessions
// while the agent dials the replacements of those just taken; after it,
// the session takes a tunnel stream. A session lives on the connection
// it starts on, so a moment's wait buys its whole life off the tunnel.
const DataWait = 100 * time.Millisecond

// parked are the data connections an agent dialled to this proxy that
// no session took yet.
type parked struct {
	mu    sync.Mutex
	conns []net.Conn
	// closed is set when the agent's tunnel is gone: later connections
	// are refused.
	closed bool
	// used is set once the agent parked a connection: it keeps them, and
	// a session that finds none waits for the next (DataWait).
	used bool
	// arrived, when a session waits, is closed at the next park.
	arrived chan struct{}
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
	p.used = true
	if p.arrived != nil {
		close(p.arrived)
		p.arrived = nil
	}
	return true
}

// takeWaiting is take, waiting up to wait for a connection when none is
// parked and the agent keeps them.
func (p *parked) takeWaiting(ctx context.Context, wait time.Duration) net.Conn {
	var timer *time.Timer
	for {
		if c := p.take(); c != nil {
			return c
		}
		p.mu.Lock()
		if len(p.conns) > 0 {
			p.mu.Unlock()
			continue
		}
		if !p.used || p.closed {
			p.mu.Unlock()
			return nil
		}
		if p.arrived == nil {
			p.arrived = make(chan struct{})
		}
		arrived := p.arrived
		p.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-arrived:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
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
	if p.arrived != nil {
		close(p.arrived)
		p.arrived = nil
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// openData writes the session's header on a parked data connection and
// returns it; nil when none is parked within DataWait or the header
// could not be written, and the session then takes a tunnel stream.
func (a *Agent) openData(ctx context.Context, header []byte) net.Conn {
	c := a.data.takeWaiting(ctx, DataWait)
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
