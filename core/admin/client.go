package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Client calls a running keyway's admin API: on its admin socket
// (NewClient) or through the proxy's cluster API as a logged-in
// administrator (NewRemoteClient). It implements authority.CA by
// forwarding to the running CA plugin. Its errors are sentences for the
// person running the command; status.Code reads their gRPC code.
type Client struct {
	// cc carries the calls and explains their failures.
	cc   grpc.ClientConnInterface
	conn *grpc.ClientConn
}

// NewClient returns a client for the admin socket at path. Nothing is
// dialled until the first call.
func NewClient(path string) *Client {
	d := &socketDialer{path: path}
	conn, err := grpc.NewClient("passthrough:///keyway-admin",
		grpc.WithContextDialer(d.dial),
		// The socket's mode 0600 is its access control.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// A local socket is retried soon: a command that waits for a
		// keyway to start should not wait out a network's backoff.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second,
		}}),
	)
	if err != nil {
		return &Client{cc: failedConn{fmt.Errorf("a client for the admin socket %s: %w", path, err)}}
	}
	return &Client{cc: explained{cc: conn, explain: d.explain}, conn: conn}
}

// NewRemoteClient returns a client whose calls travel over conn, a
// connection to the proxy's cluster API authenticated as a logged-in
// user. The client owns conn: Close closes it.
func NewRemoteClient(conn *grpc.ClientConn) *Client {
	proxy := strings.TrimPrefix(conn.Target(), "passthrough:///")
	explain := func(st *status.Status) error { return remoteError(st, proxy) }
	return &Client{cc: explained{cc: conn, explain: explain}, conn: conn}
}

// Close releases the client's connection.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// explained is a connection whose failed calls return explain's error.
// The admin API has no streams.
type explained struct {
	cc      grpc.ClientConnInterface
	explain func(*status.Status) error
}

func (e explained) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if err := e.cc.Invoke(ctx, method, args, reply, opts...); err != nil {
		return e.explain(status.Convert(err))
	}
	return nil
}

func (e explained) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return e.cc.NewStream(ctx, desc, method, opts...)
}

// failedConn fails every call with err.
type failedConn struct{ err error }

func (f failedConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error { return f.err }

func (f failedConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, f.err
}

// callError is a failed call: the server's sentence, and a hint where
// one helps.
type callError struct {
	st   *status.Status
	hint string
}

func (e *callError) Error() string {
	if e.hint == "" {
		return e.st.Message()
	}
	return e.st.Message() + " (" + e.hint + ")"
}

// GRPCStatus lets status.Code read the call's code.
func (e *callError) GRPCStatus() *status.Status { return e.st }

// remoteError explains the failure of a call made through the proxy.
func remoteError(st *status.Status, proxy string) error {
	switch st.Code() {
	case codes.Unavailable:
		return &callError{st: st, hint: "asked through the proxy " + proxy}
	case codes.PermissionDenied:
		return &callError{st: st, hint: "remote administration needs a role that allows the admin action, such as editor"}
	case codes.Unimplemented:
		return &callError{st: st, hint: "the proxy " + proxy + " does not serve this: bots, agents' names, plugins and the CA are administered on the auth host, through its admin socket (-c)"}
	}
	return &callError{st: st}
}

// socketDialer dials the admin socket and remembers how the last dial
// went, so that a failed call can tell a socket that does not answer
// from a keyway that answered with an error.
type socketDialer struct {
	path string
	mu   sync.Mutex
	last error
}

func (d *socketDialer) dial(ctx context.Context, _ string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "unix", d.path)
	d.mu.Lock()
	d.last = err
	d.mu.Unlock()
	return c, err
}

// explain turns a failed call's status into the error returned: when
// the socket did not answer, a socketError that says so.
func (d *socketDialer) explain(st *status.Status) error {
	d.mu.Lock()
	last := d.last
	d.mu.Unlock()
	if st.Code() == codes.Unavailable && last != nil {
		return &socketError{path: d.path, err: last, st: st}
	}
	return &callError{st: st}
}

// socketError is a call that found no keyway answering on the admin
// socket. It wraps the dial's error, so errors.Is tells a missing socket
// (fs.ErrNotExist) and a forbidden one (fs.ErrPermission).
type socketError struct {
	path string
	err  error
	st   *status.Status
}

func (e *socketError) Error() string {
	if errors.Is(e.err, fs.ErrPermission) {
		return fmt.Sprintf("cannot open the admin socket %s: permission denied (run this command as the user keyway runs as, or as root)", e.path)
	}
	return fmt.Sprintf("keyway does not answer on its admin socket %s: is keyway running? (%v)", e.path, e.err)
}

func (e *socketError) Unwrap() error { return e.err }

// GRPCStatus lets status.Code read the call's code, Unavailable.
func (e *socketError) GRPCStatus() *status.Status { return e.st }
