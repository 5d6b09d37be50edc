// Package admin serves the local administration socket of a running
// keyway process: a Unix socket under the data directory, mode 0600, with
// a small JSON API that the CLI on the same host uses.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyway-dev/keyway/core/supervisor"
)

// SocketName is the admin socket's file name inside the data directory.
const SocketName = "keyway.sock"

// SocketPath returns the admin socket of the data directory dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// Plugin is one row of the plugin listing.
type Plugin struct {
	supervisor.Status
	Sessions        *uint64 `json:"sessions_total,omitempty"`
	SessionsActive  *uint64 `json:"sessions_active,omitempty"`
	BytesFromClient *uint64 `json:"bytes_from_client,omitempty"`
	BytesToClient   *uint64 `json:"bytes_to_client,omitempty"`
}

// Source is what the admin socket serves: the running process's plugins
// and its CA.
type Source interface {
	Plugins(ctx context.Context) []Plugin
	CASource
	AuthSource
}

// Server is the admin socket's HTTP server.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

// Listen creates the socket under dir, replacing a stale one.
func Listen(dir string, src Source) (*Server, error) {
	sock, err := Bind(dir)
	if err != nil {
		return nil, err
	}
	return sock.Server(src), nil
}

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

// Server answers on the socket with src's admin API once its Serve runs.
func (s *Socket) Server(src Source) *Server {
	return &Server{srv: &http.Server{Handler: NewHandler(src), ReadHeaderTimeout: 5 * time.Second}, ln: s.ln, path: s.path}
}

// Close closes a socket that never served and removes it.
func (s *Socket) Close() {
	_ = s.ln.Close()
	_ = os.Remove(s.path)
}

// NewHandler is the admin API: served on the socket, and, for the
// paths RemotePath allows, through the cluster API to editors.
func NewHandler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/plugins", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, src.Plugins(r.Context()))
	})
	handleCA(mux, src)
	handleAuth(mux, src)
	handleLocks(mux, src)
	handleAccess(mux, src)
	if as, ok := src.(AuditSource); ok {
		handleAudit(mux, as)
	}
	if ps, ok := src.(ProcessSource); ok {
		handleProcess(mux, ps)
	}
	mux.HandleFunc("GET /v1/ready", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// RemotePath reports whether an admin API path may be used remotely:
// users, join tokens, roles, db resources, locks, access checks and the audit
// log, not the host's plugins or its CA.
func RemotePath(path string) bool {
	for _, p := range []string{"/v1/users", "/v1/tokens", "/v1/roles", "/v1/databases", "/v1/locks", "/v1/access/", "/v1/audit", "/v1/ready"} {
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") || strings.HasPrefix(path, p+"?") {
			return true
		}
	}
	return false
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

// Serve answers requests until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server and removes the socket.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	// The socket is closed also when Serve never ran.
	_ = s.ln.Close()
	_ = os.Remove(s.path)
	return err
}
