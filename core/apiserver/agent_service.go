package apiserver

import (
	"context"
	"encoding/json"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

// AgentService serves one agent through its tunnel; the tunnel's mutual
// TLS already proved the agent's host identity.
type AgentService struct {
	apiv1.UnimplementedAgentServer
	S     *Server
	Agent *tunnel.Agent
}

// Register replaces the databases the agent serves.
func (a AgentService) Register(_ context.Context, req *apiv1.RegisterRequest) (*apiv1.RegisterResponse, error) {
	var dbs []sdk.Database
	unhealthy := map[string]string{}
	for _, d := range req.GetDatabases() {
		dbs = append(dbs, sdk.Database{Name: d.GetName(), Description: d.GetDescription(), Protocol: d.GetProtocol(), Labels: d.GetLabels()})
		if !d.GetHealthy() {
			unhealthy[d.GetName()] = d.GetHealthDetail()
		}
	}
	a.Agent.SetDatabases(dbs)
	a.Agent.SetHealth(unhealthy)
	return &apiv1.RegisterResponse{}, nil
}

// Authorize decides a session the agent is about to serve.
func (a AgentService) Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error) {
	db, found := a.S.Databases.Get(ctx, req.GetDatabase())
	if !found {
		return &apiv1.AuthorizeResponse{Allow: false, Message: "keyway: database " + req.GetDatabase() + " is not registered in this cluster"}, nil
	}
	d := a.S.Authorizer.AuthorizeDB(ctx, access.DBRequest{
		Chain: req.GetClientCertificates(), Database: db,
		DBUser: req.GetDbUser(), DBName: req.GetDbName(), ClientAddr: req.GetClientAddr(),
	})
	resp := &apiv1.AuthorizeResponse{Allow: d.Allow, Message: d.Message}
	for _, r := range d.Reasons {
		resp.Reasons = append(resp.Reasons, &apiv1.Reason{Effect: r.Effect, Role: r.Role, Rule: r.Rule, Message: r.Message})
	}
	return resp, nil
}

// SignDBClient signs the certificate an agent presents to a database.
func (a AgentService) SignDBClient(ctx context.Context, req *apiv1.SignDBClientRequest) (*apiv1.SignDBClientResponse, error) {
	cert, notAfter, err := authority.IssueDBClient(ctx, a.S.CA, req.GetDbUser(), req.GetCsr(), DBClientTTL, a.S.now())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &apiv1.SignDBClientResponse{Certificate: cert, NotAfterUnix: notAfter.Unix()}, nil
}

// Authorities gives the agent the user and db authorities.
func (a AgentService) Authorities(ctx context.Context, _ *apiv1.AuthoritiesRequest) (*apiv1.AuthoritiesResponse, error) {
	users, err := a.S.authorityCerts(ctx, sdk.AuthorityUser)
	if err != nil {
		return nil, err
	}
	dbs, err := a.S.authorityCerts(ctx, sdk.AuthorityDB)
	if err != nil {
		return nil, err
	}
	hosts, err := a.S.authorityCerts(ctx, sdk.AuthorityHost)
	if err != nil {
		return nil, err
	}
	return &apiv1.AuthoritiesResponse{UserCas: users, DbCas: dbs, HostCas: hosts}, nil
}

// Audit records the agent's events in the cluster's audit log.
func (a AgentService) Audit(ctx context.Context, req *apiv1.AuditRequest) (*apiv1.AuditResponse, error) {
	if a.S.AuditLog == nil {
		return nil, status.Error(codes.Unavailable, "the auth service keeps no audit log")
	}
	events := make([]audit.Event, 0, len(req.GetEventsJson()))
	for _, b := range req.GetEventsJson() {
		var e audit.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "decoding an audit event: %v", err)
		}
		if e.Target == "" && a.Agent != nil {
			e.Target = "agent/" + a.Agent.Name
		}
		events = append(events, e)
	}
	var err error
	if req.GetDurable() {
		err = a.S.AuditLog.EmitDurable(ctx, events...)
	} else {
		err = a.S.AuditLog.Emit(ctx, events...)
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, "the cluster's audit log: "+err.Error())
	}
	return &apiv1.AuditResponse{}, nil
}
