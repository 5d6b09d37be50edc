package apiserver

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// AuthService serves logins and joins.
type AuthService struct {
	apiv1.UnimplementedAuthServer
	S *Server
}

// Ping names the cluster and its host authority.
func (a AuthService) Ping(ctx context.Context, _ *apiv1.PingRequest) (*apiv1.PingResponse, error) {
	cas, err := a.S.hostCAs(ctx)
	if err != nil {
		return nil, err
	}
	return &apiv1.PingResponse{ClusterName: a.S.Cluster, Version: a.S.Version, HostCas: cas}, nil
}

// Login checks the password or redeems the invite, then signs the user's
// certificate with the roles and traits of the user's record.
//
// Every failed login that could tell a stranger about an account answers
// auth.ErrLoginFailed's sentence with one status code; the real reason
// goes only to the audit log.
func (a AuthService) Login(ctx context.Context, req *apiv1.LoginRequest) (resp *apiv1.LoginResponse, err error) {
	var reason string
	defer func() {
		a.S.record(ctx, audit.Event{Event: audit.AuthLogin, Code: "T1000", User: req.GetUser(), Reason: reason}, err)
	}()
	u, err := a.S.Auth.Login(ctx, req.GetUser(), req.GetPassword(), req.GetInvite(), req.GetNewPassword(), a.S.now())
	if err != nil {
		var failed *auth.LoginError
		if errors.As(err, &failed) {
			reason = failed.Reason
		}
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if msg := a.S.lockedSentence(ctx, identity.Identity{Kind: identity.KindUser, Name: u.Name, Roles: u.Roles}, "", ""); msg != "" {
		reason = "locked"
		return nil, status.Error(codes.PermissionDenied, msg)
	}
	ttl, err := a.S.userCertTTL(ctx, u.Roles)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	cert, err := authority.IssueIdentity(ctx, a.S.CA, authority.IdentityRequest{
		Cluster: a.S.Cluster, Kind: identity.KindUser, Name: u.Name,
		Roles: u.Roles, DBUsers: u.DBUsers, DBNames: u.DBNames, TTL: ttl,
	}, req.GetCsr(), a.S.now())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	hostCAs, err := a.S.hostCAs(ctx)
	if err != nil {
		return nil, err
	}
	dbCAs, err := a.S.authorityCerts(ctx, sdk.AuthorityDB)
	if err != nil {
		return nil, err
	}
	return &apiv1.LoginResponse{Certificate: cert, HostCas: hostCAs, DbCas: dbCAs, ClusterName: a.S.Cluster, ProxyAddrs: a.S.proxyAddrs(ctx)}, nil
}

// Join consumes a join token and signs the agent's host certificate,
// for a host name no joined agent holds: two agents under one name would
// share one identity, each able to act for the other's sessions.
func (a AuthService) Join(ctx context.Context, req *apiv1.JoinRequest) (*apiv1.JoinResponse, error) {
	if _, err := a.S.Auth.JoinHost(ctx, req.GetToken(), req.GetHostName(), a.S.hostTTL(), a.S.now()); err != nil {
		code := codes.PermissionDenied
		if errors.Is(err, auth.ErrHostNameTaken) {
			code = codes.AlreadyExists
		}
		err = status.Error(code, err.Error())
		a.S.record(ctx, audit.Event{Event: audit.CertIssued, Code: "TC001", Target: "host/" + req.GetHostName(), Reason: "join"}, err)
		return nil, err
	}
	a.S.record(ctx, audit.Event{Event: audit.CertIssued, Code: "TC001", Target: "host/" + req.GetHostName(), Reason: "join"}, nil)
	resp, err := authority.IssueHost(ctx, a.S.CA, authority.HostRequest{
		Cluster: a.S.Cluster, Name: req.GetHostName(), TTL: a.S.hostTTL(),
	}, req.GetCsr(), a.S.now())
	if err != nil {
		// No certificate holds the name: a join with a good CSR may
		// take it (the token is spent).
		a.S.Auth.ReleaseHostName(ctx, req.GetHostName())
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	hostCAs, err := a.S.hostCAs(ctx)
	if err != nil {
		return nil, err
	}
	return &apiv1.JoinResponse{Certificate: resp.Certificate, HostCas: hostCAs, ClusterName: a.S.Cluster}, nil
}
