package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/authority"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// dbCertTTL is how long a db-client certificate given to a protocol
// plugin lives; plugins cache it until shortly before.
const dbCertTTL = time.Hour

// hostBackend answers protocol plugins' access and certificate questions
// for the databases of this agent.
type hostBackend struct {
	registry   *agent.Registry
	authorizer *access.Authorizer
	ca         authority.CA
}

func (h *hostBackend) Authorize(ctx context.Context, req *pluginv1.HostAuthorizeRequest) (*pluginv1.HostAuthorizeResponse, error) {
	db, found, err := h.registry.Get(ctx, req.GetDatabase())
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if !found {
		return &pluginv1.HostAuthorizeResponse{Allow: false, Message: "keyway: database " + req.GetDatabase() + " is not served by this agent"}, nil
	}
	d := h.authorizer.AuthorizeDB(ctx, access.DBRequest{
		Chain: req.GetClientCertificates(), Database: db,
		DBUser: req.GetDbUser(), DBName: req.GetDbName(), ClientAddr: req.GetClientAddr(),
	})
	resp := &pluginv1.HostAuthorizeResponse{Allow: d.Allow, Message: d.Message}
	for _, r := range d.Reasons {
		resp.Reasons = append(resp.Reasons, &pluginv1.Reason{Effect: r.Effect, Role: r.Role, Rule: r.Rule, Message: r.Message})
	}
	return resp, nil
}

func (h *hostBackend) DatabaseCertificate(ctx context.Context, req *pluginv1.DatabaseCertificateRequest) (*pluginv1.DatabaseCertificateResponse, error) {
	if _, found, err := h.registry.Get(ctx, req.GetDatabase()); err != nil || !found {
		return nil, status.Errorf(codes.NotFound, "database %s is not served by this agent", req.GetDatabase())
	}
	c, err := authority.SignDBClientCert(ctx, h.ca, authority.DBClientRequest{DBUser: req.GetDbUser(), TTL: dbCertTTL}, time.Now())
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &pluginv1.DatabaseCertificateResponse{CertificatePem: c.CertPEM, KeyPem: c.KeyPEM, NotAfterUnix: c.NotAfter.Unix()}, nil
}
