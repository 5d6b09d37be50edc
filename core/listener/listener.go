// Package listener accepts client connections on the addresses in the
// configuration and hands each one to its protocol plugin. The core keeps
// the listening socket, so a plugin restart loses no port: connections
// that arrive meanwhile wait for the plugin to come back.
package listener

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
	// HandoffTimeout bounds how long a connection waits for its plugin.
	HandoffTimeout time.Duration

	wg sync.WaitGroup
}

// Serve accepts connections on ln until it is closed.
func (l *Listener) Serve(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.wg.Wait()
			return fmt.Errorf("listener %q: %w", l.Name, err)
		}
		l.wg.Go(func() { l.handoff(conn) })
	}
}

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
