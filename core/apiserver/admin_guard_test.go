package apiserver

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/admin"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// recorded is one audit event with the error it was recorded with.
type recorded struct {
	e   audit.Event
	err error
}

// TestAdminGuard: every remote admin call is identified, decided and
// recorded once; only an allowed one runs.
func TestAdminGuard(t *testing.T) {
	bobID, err := identity.New("example", identity.KindUser, "bob")
	if err != nil {
		t.Fatal(err)
	}
	bob := identity.Identity{ID: bobID, Kind: identity.KindUser, Name: "bob"}
	const method = "/keyway.api.v1.Users/AddUser"
	for _, tt := range []struct {
		name      string
		callerErr error
		decision  sdk.Authorization
		authzErr  error
		code      codes.Code
		msg       string
		served    bool
		// audited is the code the recorded event's error has; OK for a
		// success, and no event at all when nothing is recorded.
		audited codes.Code
		events  int
	}{
		{name: "allowed", decision: sdk.Authorization{Allow: true}, code: codes.OK, msg: "", served: true, audited: codes.OK, events: 1},
		{name: "denied", decision: sdk.Authorization{Message: "keyway: no role of bob allows administration"},
			code: codes.PermissionDenied, msg: "keyway: no role of bob allows administration", audited: codes.PermissionDenied, events: 1},
		{name: "authorisation plugin down", authzErr: errors.New("the authz plugin is not running"),
			code: codes.Unavailable, msg: "keyway could not reach its authorisation plugin, so the request is denied: the authz plugin is not running", audited: codes.Unknown, events: 1},
		{name: "no user certificate", callerErr: status.Error(codes.Unauthenticated, "this call needs TLS with a client certificate"),
			code: codes.Unauthenticated, msg: "this call needs TLS with a client certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var events []recorded
			g := adminGuard{
				caller: func(context.Context) (identity.Identity, error) {
					if tt.callerErr != nil {
						return identity.Identity{}, tt.callerErr
					}
					return bob, nil
				},
				authorize: func(_ context.Context, id identity.Identity) (sdk.Authorization, error) {
					if id.Name != "bob" {
						t.Errorf("authorising %q", id.Name)
					}
					return tt.decision, tt.authzErr
				},
				record: func(_ context.Context, e audit.Event, err error) { events = append(events, recorded{e, err}) },
			}
			served := false
			resp, err := g.admit(t.Context(), "request", &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) {
				served = true
				return "response", nil
			})
			if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.msg {
				t.Fatalf("answer %v, want %s %q", err, tt.code, tt.msg)
			}
			if served != tt.served || tt.served && resp != "response" {
				t.Fatalf("served %v (%v), want %v", served, resp, tt.served)
			}
			if len(events) != tt.events {
				t.Fatalf("%d events recorded, want %d: %+v", len(events), tt.events, events)
			}
			if tt.events == 0 {
				return
			}
			e := events[0]
			if e.e.Event != "admin.request" || e.e.Code != "TA001" || e.e.User != "bob" || e.e.SpiffeID != "spiffe://example/user/bob" || e.e.Reason != method {
				t.Fatalf("event %+v", e.e)
			}
			if status.Code(e.err) != tt.audited {
				t.Fatalf("event recorded with %v, want code %s", e.err, tt.audited)
			}
		})
	}
}

// TestRegisterAdminRefusesCallsWithoutACertificate serves the remote
// admin API as the proxy does: a call without TLS is refused, unaudited,
// before it runs.
func TestRegisterAdminRefusesCallsWithoutACertificate(t *testing.T) {
	var events []audit.Event
	s := &Server{
		Authorizer: &access.Authorizer{Roles: access.StaticRoles(access.BuiltinRoles())},
		Audit:      func(_ context.Context, e audit.Event) { events = append(events, e) },
	}
	ln := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	RegisterAdmin(srv, s, noRecords{})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, err = apiv1.NewUsersClient(conn).ListUsers(t.Context(), &apiv1.ListUsersRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a call without a certificate: %v", err)
	}
	if len(events) != 0 {
		t.Fatalf("events recorded: %+v", events)
	}
}

// noRecords is an admin source of a process without the auth role.
type noRecords struct{}

func (noRecords) Plugins(context.Context) []admin.Plugin { return nil }
func (noRecords) CA(context.Context) (authority.CA, error) {
	return nil, errors.New("no CA")
}
func (noRecords) Auth() *auth.Service                     { return nil }
func (noRecords) HostPin(context.Context) (string, error) { return "", errors.New("no pin") }
