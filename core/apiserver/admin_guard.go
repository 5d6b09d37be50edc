package apiserver

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// adminRequest is the audit event of a remote admin call.
const adminRequest = "admin.request"

// RegisterAdmin serves on reg, the cluster API's server, the admin
// services that remote administrators may call (admin.RegisterRemote)
// for src, each call admitted by the admin guard of s.
func RegisterAdmin(reg grpc.ServiceRegistrar, s *Server, src admin.Source) {
	g := adminGuard{
		caller: s.caller,
		authorize: func(ctx context.Context, id identity.Identity) (sdk.Authorization, error) {
			return s.Authorizer.AuthorizeAdmin(ctx, id)
		},
		record: s.record,
	}
	admin.RegisterRemote(reg, src, g.admit)
}

// adminGuard is where remote administration is authorised and audited:
// every call of the remote admin API passes it.
type adminGuard struct {
	// caller verifies the call's client certificate.
	caller func(ctx context.Context) (identity.Identity, error)
	// authorize decides the admin action for an identity.
	authorize func(ctx context.Context, id identity.Identity) (sdk.Authorization, error)
	// record audits an event with the error it ended in, if any.
	record func(ctx context.Context, e audit.Event, err error)
}

// admit is a unary interceptor: it identifies the caller, asks whether
// their roles allow the admin action, records the call and the decision
// as one admin.request event naming the method, and runs the call only
// when it is allowed. A caller without a valid user certificate is
// refused before anything is recorded.
func (g adminGuard) admit(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	id, err := g.caller(ctx)
	if err != nil {
		return nil, err
	}
	d, err := g.authorize(ctx, id)
	g.record(ctx, audit.Event{Event: adminRequest, Code: "TA001", User: id.Name, SpiffeID: id.ID.String(), Reason: info.FullMethod}, denial(d.Allow, d.Message, err))
	if err != nil {
		return nil, status.Error(codes.Unavailable, "keyway could not reach its authorisation plugin, so the request is denied: "+err.Error())
	}
	if !d.Allow {
		return nil, status.Error(codes.PermissionDenied, d.Message)
	}
	return handler(ctx, req)
}

// denial turns a decision into the error audited with it.
func denial(allow bool, msg string, err error) error {
	if err != nil {
		return err
	}
	if !allow {
		return status.Error(codes.PermissionDenied, msg)
	}
	return nil
}
