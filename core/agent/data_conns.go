package agent

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/keyway-dev/keyway/core/tunnel"
)

// keepWarm keeps c.DataConns data connections dialled to the proxy
// while the tunnel lasts: each waits for the header of a session the
// proxy sends on it, and each one taken, or lost, is dialled again. A
// proxy that refuses them (an older keyway, or one that parks enough)
// is tried again after a growing delay; its sessions keep coming
// through the tunnel.
func (c *TunnelClient) keepWarm(ctx context.Context) {
	if c.DataConns <= 0 {
		return
	}
	// slots holds one value per connection to dial: true when the last
	// one in that slot carried a session, false when it was refused.
	slots := make(chan bool, c.DataConns)
	for range c.DataConns {
		slots <- true
	}
	backoff := 100 * time.Millisecond
	for {
		var used bool
		select {
		case <-ctx.Done():
			return
		case used = <-slots:
		}
		if !used && !c.pause(ctx, &backoff) {
			return
		}
		if err := c.dialData(ctx, slots); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.Logger.Debug("dialling a data connection to the proxy", "proxy", c.ProxyAddr, "error", err)
			slots <- false
			continue
		}
		if used {
			backoff = 100 * time.Millisecond
		}
	}
}

// dialData dials one data connection and hands it, before TLS, to the
// plugin that serves the sessions when Handoff takes it; otherwise the
// core completes its TLS and serves it. Either way, one value goes to
// slots when it carried a session or ended.
func (c *TunnelClient) dialData(ctx context.Context, slots chan<- bool) error {
	if c.Handoff != nil {
		slot, err := newDataSlot(c, slots)
		if err != nil {
			return err
		}
		d := net.Dialer{Timeout: 10 * time.Second}
		raw, err := d.DialContext(ctx, "tcp", c.ProxyAddr)
		if err != nil {
			return fmt.Errorf("dialing the proxy: %w", err)
		}
		handed, err := c.Handoff.HandData(ctx, raw.(*net.TCPConn), slot)
		_ = raw.Close()
		if err != nil {
			return err
		}
		if handed {
			return nil
		}
	}
	conn, err := c.dial(ctx, tunnel.ALPNData)
	if err != nil {
		return err
	}
	go c.serveData(ctx, conn, slots)
	return nil
}

// pause waits out the backoff and doubles it; false when ctx ended.
func (c *TunnelClient) pause(ctx context.Context, backoff *time.Duration) bool {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	*backoff = min(*backoff*2, 10*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// serveData waits for a session's header on a data connection and
// delivers the session. The connection closes with the tunnel, as the
// tunnel's streams do.
func (c *TunnelClient) serveData(ctx context.Context, conn net.Conn, slots chan<- bool) {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	release := func() {
		stop()
		_ = conn.Close()
	}
	meta, err := tunnel.ReadHeader(conn)
	slots <- err == nil
	if err != nil {
		release()
		if ctx.Err() == nil {
			c.Logger.Debug("the proxy closed a data connection", "proxy", c.ProxyAddr, "error", err)
		}
		return
	}
	c.handle(ctx, conn, meta, release)
}
