package tunnel

import (
	"net"
	"sync"
)

// ConnListener is a net.Listener fed by hand: the proxy accepts and
// sniffs connections itself, then passes those for the API here, so a
// gRPC server can serve them.
type ConnListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// NewConnListener returns a listener reporting addr.
func NewConnListener(addr net.Addr) *ConnListener {
	return &ConnListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Deliver passes a connection to Accept; it returns false once closed.
func (l *ConnListener) Deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// Accept returns the next delivered connection.
func (l *ConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept.
func (l *ConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the proxy's address.
func (l *ConnListener) Addr() net.Addr { return l.addr }
