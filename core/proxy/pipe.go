package proxy

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// Pipe is a Unix socket pair: the proxy keeps Local and hands Remote's
// descriptor to a plugin.
type Pipe struct {
	local  net.Conn
	remote *os.File
}

// NewPipe creates a socket pair.
func NewPipe() (*Pipe, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	lf := os.NewFile(uintptr(fds[0]), "proxy-local")
	local, err := net.FileConn(lf)
	_ = lf.Close()
	if err != nil {
		_ = syscall.Close(fds[1])
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	return &Pipe{local: local, remote: os.NewFile(uintptr(fds[1]), "proxy-remote")}, nil
}

// Local is the proxy's end.
func (p *Pipe) Local() net.Conn { return p.local }

// Remote is the end handed to a plugin; close it once handed over.
func (p *Pipe) Remote() *os.File { return p.remote }

// Close closes both ends.
func (p *Pipe) Close() {
	_ = p.local.Close()
	_ = p.remote.Close()
}
