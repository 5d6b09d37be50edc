// Package handoff passes open connections from the keyway core to a
// protocol plugin as file descriptors over a Unix SOCK_SEQPACKET socket.
// Each packet carries one descriptor and a small payload describing the
// session, so the plugin owns the connection's bytes from then on and the
// core never copies them.
package handoff

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// MaxPayload bounds the metadata sent with one connection.
const MaxPayload = 64 << 10

// The socket Listen makes is socketName in a new directory whose name
// starts with dirPrefix.
const (
	dirPrefix  = "keyway-handoff-"
	socketName = "handoff.sock"
)

// ErrNoDescriptor is returned when a packet arrives without a descriptor.
var ErrNoDescriptor = errors.New("handoff packet carried no file descriptor")

// Listener is the plugin's end: it accepts the host's connection.
type Listener struct {
	ln  *net.UnixListener
	dir string
}

// Listen creates a socket in a new private directory (mode 0700) under
// the system temporary directory.
func Listen() (*Listener, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating handoff directory: %w", err)
	}
	path := filepath.Join(dir, socketName)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	return &Listener{ln: ln, dir: dir}, nil
}

// Path is the socket's path, for the host to dial.
func (l *Listener) Path() string { return l.ln.Addr().String() }

// Accept waits for the host. Peers running as another user are refused.
// Once the host is connected the socket's directory is removed: a socket
// is dialled once, and a plugin killed afterwards leaves nothing behind
// in the temporary directory.
func (l *Listener) Accept() (*Receiver, error) {
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if err := checkPeer(c); err != nil {
			_ = c.Close()
			continue
		}
		l.ln.SetUnlinkOnClose(false)
		if err := os.RemoveAll(l.dir); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("removing handoff directory: %w", err)
		}
		return &Receiver{c: c}, nil
	}
}

// SetDeadline sets when a waiting Accept gives up.
func (l *Listener) SetDeadline(t time.Time) error { return l.ln.SetDeadline(t) }

// Close stops listening and removes the socket's directory if it is
// still there.
func (l *Listener) Close() error {
	err := l.ln.Close()
	if rmErr := os.RemoveAll(l.dir); err == nil {
		err = rmErr
	}
	return err
}

// Receiver reads handed-off connections.
type Receiver struct {
	c *net.UnixConn
}

// Receive returns the next descriptor, as a file the caller must close,
// and its payload.
func (r *Receiver) Receive() (*os.File, []byte, error) {
	buf := make([]byte, MaxPayload)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	n, oobn, flags, _, err := r.c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 && oobn == 0 {
		return nil, nil, net.ErrClosed
	}
	files, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, nil, err
	}
	if flags&syscall.MSG_CTRUNC != 0 || len(files) != 1 {
		for _, f := range files {
			_ = f.Close()
		}
		if len(files) == 0 {
			return nil, nil, ErrNoDescriptor
		}
		return nil, nil, fmt.Errorf("handoff packet carried %d descriptors, want 1", len(files))
	}
	return files[0], buf[:n:n], nil
}

// Close closes the receiving end.
func (r *Receiver) Close() error { return r.c.Close() }

func parseRights(oob []byte) ([]*os.File, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parsing control message: %w", err)
	}
	var files []*os.File
	for i := range msgs {
		fds, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "handoff"))
		}
	}
	return files, nil
}

// Sender is the host's end.
type Sender struct {
	c *net.UnixConn
}

// Dial connects to a plugin's handoff socket.
func Dial(path string) (*Sender, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("dialing handoff socket %s: %w", path, err)
	}
	removeListened(path)
	return &Sender{c: c}, nil
}

// removeListened removes a socket Listen made, and its directory, once
// the host is connected: the plugin does the same when it accepts, but a
// plugin killed before it gets to that would leave them behind. Any
// other path is left alone.
func removeListened(path string) {
	dir := filepath.Dir(path)
	if filepath.Base(path) != socketName || !strings.HasPrefix(filepath.Base(dir), dirPrefix) {
		return
	}
	_ = os.Remove(path)
	_ = os.Remove(dir)
}

// Send passes conn's descriptor and payload to the plugin. The caller
// still owns conn and should close its copy once Send succeeds.
func (s *Sender) Send(conn syscall.Conn, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("handoff payload of %d bytes exceeds %d", len(payload), MaxPayload)
	}
	if len(payload) == 0 {
		// A packet needs at least one byte to carry a descriptor.
		payload = []byte{0}
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("getting descriptor: %w", err)
	}
	var sendErr error
	err = raw.Control(func(fd uintptr) {
		_, _, sendErr = s.c.WriteMsgUnix(payload, syscall.UnixRights(int(fd)), nil)
	})
	if err != nil {
		return fmt.Errorf("getting descriptor: %w", err)
	}
	if sendErr != nil {
		return fmt.Errorf("handing off connection: %w", sendErr)
	}
	return nil
}

// Close closes the sending end.
func (s *Sender) Close() error { return s.c.Close() }
