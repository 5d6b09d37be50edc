package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
)

// Socket is the admin socket, bound but not yet answering: a command that
// connects waits in the socket's backlog until Server serves it. Binding
// it before the process's public ports lets scripts that start keyway run
// an admin command as soon as a public port answers.
type Socket struct {
	ln   net.Listener
	path string
}

// Bind creates the socket under dir, replacing a stale one, with mode
// 0600.
func Bind(dir string) (*Socket, error) {
	path := SocketPath(dir)
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("restricting admin socket: %w", err)
	}
	return &Socket{ln: ln, path: path}, nil
}

// Listen creates the socket under dir, replacing a stale one, and
// returns its server for src.
func Listen(dir string, src Source) (*Server, error) {
	sock, err := Bind(dir)
	if err != nil {
		return nil, err
	}
	return sock.Server(src), nil
}

// Close closes a socket that never served and removes it.
func (s *Socket) Close() {
	_ = s.ln.Close()
	_ = os.Remove(s.path)
}

// Server is the admin socket's gRPC server: the whole admin API, to
// whoever may open the socket.
type Server struct {
	srv  *grpc.Server
	ln   net.Listener
	path string
}

// Server answers on the socket with src's admin API once its Serve runs.
func (s *Socket) Server(src Source) *Server {
	srv := grpc.NewServer()
	Register(srv, src)
	return &Server{srv: srv, ln: s.ln, path: s.path}
}

// Serve answers calls until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Shutdown stops the server, letting the calls in progress finish until
// ctx ends, and removes the socket.
func (s *Server) Shutdown(ctx context.Context) error {
	stopped := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(stopped)
	}()
	var err error
	select {
	case <-stopped:
	case <-ctx.Done():
		s.srv.Stop()
		<-stopped
		err = ctx.Err()
	}
	// The socket is closed also when Serve never ran.
	_ = s.ln.Close()
	_ = os.Remove(s.path)
	return err
}

// removeStale deletes a socket left by a process that is gone, and refuses
// to start next to one that still answers.
func removeStale(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return fmt.Errorf("another keyway is running with this data directory (its admin socket %s answers)", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing stale admin socket: %w", err)
	}
	return nil
}
