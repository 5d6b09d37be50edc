package apiserver

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// UserService serves logged-in users.
type UserService struct {
	apiv1.UnimplementedUserServer
	S *Server
}

// ListDatabases lists what the caller's roles let it see, decided by the
// same authorisation plugin as connections.
func (u UserService) ListDatabases(ctx context.Context, _ *apiv1.ListDatabasesRequest) (*apiv1.ListDatabasesResponse, error) {
	id, err := u.S.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp := &apiv1.ListDatabasesResponse{}
	for _, l := range u.S.Databases.List(ctx) {
		ok, err := u.S.Authorizer.CanList(ctx, id, l.Database)
		if err != nil {
			return nil, status.Error(codes.Unavailable, "keyway could not reach its authorisation plugin: "+err.Error())
		}
		if ok {
			db := listedToProto(l)
			if u.S.Clients != nil {
				db.Client, _ = u.S.Clients(db.Protocol)
			}
			resp.Databases = append(resp.Databases, db)
		}
	}
	return resp, nil
}

// DatabaseCertificate checks that the caller may use the database as the
// database user and name, then signs a certificate routed to it that
// lives no longer than the caller's own.
func (u UserService) DatabaseCertificate(ctx context.Context, req *apiv1.DatabaseCertificateRequest) (*apiv1.DatabaseCertificateResponse, error) {
	id, err := u.S.caller(ctx)
	if err != nil {
		return nil, err
	}
	db, found := u.S.Databases.Get(ctx, req.GetDatabase())
	if !found {
		return nil, status.Errorf(codes.NotFound, "database %s is not registered in this cluster; keyway db ls lists the databases you can reach", req.GetDatabase())
	}
	chain, _ := peerChain(ctx)
	d := u.S.Authorizer.AuthorizeIdentity(ctx, id, access.DBRequest{Database: db, DBUser: req.GetDbUser(), DBName: req.GetDbName()})
	if msg := u.S.lockedSentence(ctx, id, db.Name, ""); msg != "" {
		d.Allow, d.Message = false, msg
	}
	if !d.Allow {
		err := status.Error(codes.PermissionDenied, d.Message)
		u.S.record(ctx, audit.Event{Event: audit.CertIssued, Code: "TC002", User: id.Name, SpiffeID: id.ID.String(),
			DBService: db.Name, DBUser: req.GetDbUser(), DBName: req.GetDbName(), Reason: "db login"}, err)
		return nil, err
	}
	ttl := min(UserCertTTL, remaining(chain, u.S.now()))
	if ttl < time.Minute {
		return nil, status.Error(codes.Unauthenticated, "your login expires within a minute; run keyway login again")
	}
	cert, err := authority.IssueIdentity(ctx, u.S.CA, authority.IdentityRequest{
		Cluster: u.S.Cluster, Kind: id.Kind, Name: id.Name, Roles: id.Roles, DBUsers: id.DBUsers, DBNames: id.DBNames,
		Route: &identity.Route{Service: db.Name, DBUser: req.GetDbUser(), DBName: req.GetDbName()}, TTL: ttl,
	}, req.GetCsr(), u.S.now())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	u.S.record(ctx, audit.Event{Event: audit.CertIssued, Code: "TC002", User: id.Name, SpiffeID: id.ID.String(),
		DBService: db.Name, DBUser: req.GetDbUser(), DBName: req.GetDbName(), Reason: "db login"}, nil)
	hostCAs, err := u.S.hostCAs(ctx)
	if err != nil {
		return nil, err
	}
	return &apiv1.DatabaseCertificateResponse{Certificate: cert, HostCas: hostCAs}, nil
}
