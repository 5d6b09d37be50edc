package admin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestSocketThatDoesNotAnswer: a call to a data directory where no
// keyway runs says so, names the socket, and wraps the dial's error.
func TestSocketThatDoesNotAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	c := NewClient(path)
	defer func() { _ = c.Close() }()
	err := c.Ready(t.Context())
	if !errors.Is(err, fs.ErrNotExist) || status.Code(err) != codes.Unavailable {
		t.Fatalf("error %v (%s), want one wrapping fs.ErrNotExist with code Unavailable", err, status.Code(err))
	}
	for _, want := range []string{"is keyway running?", path} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}

// TestErrorHints: each failure gets the server's sentence, with a hint
// where one helps.
func TestErrorHints(t *testing.T) {
	denied := &os.SyscallError{Syscall: "connect", Err: syscall.EACCES}
	refused := &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}
	local := func(last error) func(*status.Status) error {
		return (&socketDialer{path: "/data/keyway.sock", last: last}).explain
	}
	remote := func(st *status.Status) error { return remoteError(st, "proxy.example:3080") }
	for _, tt := range []struct {
		name    string
		explain func(*status.Status) error
		st      *status.Status
		want    string
		is      error
	}{
		{"served error", local(nil), status.New(codes.NotFound, "user bob: no such user"), "user bob: no such user", nil},
		{"CA down", local(nil), status.New(codes.Unavailable, "the CA plugin is not running"), "the CA plugin is not running", nil},
		{"stopped", local(refused), status.New(codes.Unavailable, "connection error"),
			"keyway does not answer on its admin socket /data/keyway.sock: is keyway running? (connect: connection refused)", syscall.ECONNREFUSED},
		{"forbidden", local(denied), status.New(codes.Unavailable, "connection error"),
			"cannot open the admin socket /data/keyway.sock: permission denied (run this command as the user keyway runs as, or as root)", fs.ErrPermission},
		{"remote denial", remote, status.New(codes.PermissionDenied, "keyway: no role of bob allows administration"),
			"keyway: no role of bob allows administration (remote administration needs a role that allows the admin action, such as editor)", nil},
		{"remote socket-only service", remote, status.New(codes.Unimplemented, "unknown service keyway.api.v1.Bots"),
			"unknown service keyway.api.v1.Bots (the proxy proxy.example:3080 does not serve this: bots, agents' names, plugins and the CA are administered on the auth host, through its admin socket (-c))", nil},
		{"proxy down", remote, status.New(codes.Unavailable, "connection refused"), "connection refused (asked through the proxy proxy.example:3080)", nil},
		{"remote refusal", remote, status.New(codes.InvalidArgument, "role editor is built in and cannot be removed"), "role editor is built in and cannot be removed", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.explain(tt.st)
			if err.Error() != tt.want {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
			if status.Code(err) != tt.st.Code() {
				t.Fatalf("code %s, want %s", status.Code(err), tt.st.Code())
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}
