// Package listener accepts client connections on the addresses in the
// configuration and hands each one to its protocol plugin. The core keeps
// the listening socket, so a plugin restart loses no port: connections
// that arrive meanwhile wait for the plugin to come back.
package listener

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Target takes connections: a protocol plugin's supervisor instance.
type Target interface {
	Handoff(ctx context.Context, conn syscall.Conn, sess *pluginv1.Session) error
}

// Listener serves one configured address.
type Listener struct {
	Name   string
	Target Target
	Logger hclog.Logger
	// Metrics counts failed accepts.
	Metrics Metrics
	// HandoffTimeout bounds how long a connection waits for its plugin.
	HandoffTimeout time.Duration

	loop AcceptLoop
	wg   sync.WaitGroup
}

// Serve accepts connections on ln until it is closed, riding out a lack
// of descriptors, then waits for the hand-offs in flight, which
// HandoffTimeout bounds.
func (l *Listener) Serve(ln net.Listener) error {
	l.loop.Name, l.loop.Logger, l.loop.Metrics = "listener "+l.Name, l.Logger, l.Metrics
	err := l.loop.Serve(ln, func(conn net.Conn) { l.wg.Go(func() { l.handoff(conn) }) })
	l.wg.Wait()
	if err != nil {
		return fmt.Errorf("listener %q: %w", l.Name, err)
	}
	return nil
}

// Saturated reports whether the listener cannot accept for want of
// descriptors or memory.
func (l *Listener) Saturated() bool { return l.loop.Saturated() }

func (l *Listener) handoff(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		l.Logger.Error("connection has no descriptor to hand off", "listener", l.Name)
		return
	}
	sess := &pluginv1.Session{
		Id:               newSessionID(),
		Listener:         l.Name,
		ClientAddr:       conn.RemoteAddr().String(),
		LocalAddr:        conn.LocalAddr().String(),
		AcceptedUnixNano: time.Now().UnixNano(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.HandoffTimeout)
	defer cancel()
	if err := l.Target.Handoff(ctx, sc, sess); err != nil {
		l.Logger.Error("cannot hand connection to its plugin", "listener", l.Name, "client", sess.ClientAddr, "error", err)
		return
	}
	l.Logger.Debug("connection handed off", "listener", l.Name, "session", sess.Id, "client", sess.ClientAddr)
}

// newSessionID returns 16 random bytes in hex.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
