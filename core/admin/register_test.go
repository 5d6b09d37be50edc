package admin

import (
	"context"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// guardLog is a guard that records the methods it saw, in order with
// the server's own interceptor, and refuses those in deny.
type guardLog struct {
	mu   sync.Mutex
	seen []string
	deny map[string]bool
}

func (g *guardLog) note(s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen = append(g.seen, s)
}

func (g *guardLog) outer(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	g.note("server " + info.FullMethod)
	return handler(ctx, req)
}

func (g *guardLog) guard(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	g.note("guard " + info.FullMethod)
	if g.deny[info.FullMethod] || g.deny["*"] {
		return nil, status.Error(codes.PermissionDenied, "refused by the guard")
	}
	return handler(ctx, req)
}

// serveRemote serves src's remote admin API, guarded by g, inside a
// server with g's own interceptor, and returns the server and a client
// connection.
func serveRemote(t *testing.T, src Source, g *guardLog) (*grpc.Server, *grpc.ClientConn) {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(g.outer))
	RegisterRemote(srv, src, g.guard)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return srv, conn
}

// TestRegisterRemoteServesTheRecordsOnly: the remote admin API has the
// services of the cluster's records, not bots, agents or the host.
func TestRegisterRemoteServesTheRecordsOnly(t *testing.T) {
	srv, conn := serveRemote(t, recordsOnly{}, &guardLog{})
	var names []string
	for name := range srv.GetServiceInfo() {
		names = append(names, name)
	}
	sort.Strings(names)
	want := []string{"keyway.api.v1.Access", "keyway.api.v1.Audit", "keyway.api.v1.DatabaseResources", "keyway.api.v1.Locks", "keyway.api.v1.Roles", "keyway.api.v1.Tokens", "keyway.api.v1.Users"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	_, err := apiv1.NewHostClient(conn).Ready(t.Context(), &apiv1.ReadyRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("Host.Ready remotely: %v", err)
	}
}

// TestEveryRemoteMethodPassesTheGuard calls each method of the remote
// admin API: the guard sees each, after the server's own interceptor,
// and what it refuses does not run.
func TestEveryRemoteMethodPassesTheGuard(t *testing.T) {
	g := &guardLog{deny: map[string]bool{"*": true}}
	srv, conn := serveRemote(t, recordsOnly{}, g)
	n := 0
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			method := "/" + name + "/" + m.Name
			g.seen = nil
			err := conn.Invoke(t.Context(), method, &emptypb.Empty{}, &emptypb.Empty{})
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s: %v, want the guard's refusal", method, err)
			}
			if want := []string{"server " + method, "guard " + method}; !slices.Equal(g.seen, want) {
				t.Errorf("%s: interceptors ran %v, want %v", method, g.seen, want)
			}
			n++
		}
	}
	// Users 4, Roles 3, Tokens 3, DatabaseResources 3, Locks 3, Audit 1,
	// Access 1.
	if n != 18 {
		t.Fatalf("%d methods served remotely, want 18", n)
	}
}

// TestGuardAllowsThenTheCallRuns: an allowed call runs, and its error is
// a status with the code of its kind.
func TestGuardAllowsThenTheCallRuns(t *testing.T) {
	g := &guardLog{deny: map[string]bool{apiv1.Users_AddUser_FullMethodName: true}}
	_, conn := serveRemote(t, recordsOnly{}, g)
	users := apiv1.NewUsersClient(conn)
	_, err := users.ListUsers(t.Context(), &apiv1.ListUsersRequest{})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != ErrNoAuthRole.Error() {
		t.Fatalf("ListUsers without the auth role: %v", err)
	}
	_, err = users.AddUser(t.Context(), &apiv1.AddUserRequest{Name: "alice"})
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || st.Message() != "refused by the guard" {
		t.Fatalf("AddUser refused by the guard: %v", err)
	}
}
