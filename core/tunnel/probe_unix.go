//go:build unix

package tunnel

import (
	"crypto/tls"
	"net"
	"syscall"
)

// alive reports whether a parked data connection is still open at the
// agent's end. An agent sends nothing on it before a session, so a peek
// that finds no byte waiting means it is; end of stream, an error or a
// byte (a closing alert) means the agent's end went away, as when the
// process that held it was killed.
func alive(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = n < 0 && (rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && open
}
