package apiserver

import (
	"context"
	"fmt"
	"time"

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
// TLS already proved the agent's host identity. With Agent nil it serves
// this process's own databases, in process: what this process routes to
// itself needs no grant.
type AgentService struct {
	apiv1.UnimplementedAgentServer
	S     *Server
	Agent *tunnel.Agent
	// Refusals, if set, throttles the audit records of what this agent
	// was refused, so that a misbehaving agent cannot flood the log.
	Refusals *Throttle
}

// remote reports whether the service answers an agent through its
// tunnel, which needs a grant for each session.
func (a AgentService) remote() bool { return a.Agent != nil }

// refuse audits a refused call, throttled, and returns the error the
// agent gets.
func (a AgentService) refuse(ctx context.Context, e audit.Event, err error) error {
	err = status.Error(codes.PermissionDenied, err.Error())
	if a.Refusals == nil || a.Refusals.Allow(a.S.now()) {
		a.S.record(ctx, e, err)
	}
	return err
}

// Authorize decides a session the agent is about to serve: one the proxy
// routed to it, for the session's database and its client's certificate.
func (a AgentService) Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error) {
	if a.remote() {
		err := a.S.Grants.checkAuthorize(grantAuthorize{
			Agent: a.Agent.Name, SessionID: req.GetSessionId(), Database: req.GetDatabase(),
			DBUser: req.GetDbUser(), Chain: req.GetClientCertificates(),
		})
		if err != nil {
			return nil, a.refuse(ctx, audit.Event{Event: audit.AgentRefused, Code: "TA001", SessionID: req.GetSessionId(),
				Target: "agent/" + a.Agent.Name, DBService: req.GetDatabase(), DBUser: req.GetDbUser(), Reason: "authorize"}, err)
		}
	}
	db, found := a.S.Databases.Get(ctx, req.GetDatabase())
	if !found {
		return &apiv1.AuthorizeResponse{Allow: false, Message: "keyway: database " + req.GetDatabase() + " is not registered in this cluster"}, nil
	}
	dbReq := access.DBRequest{
		Chain: req.GetClientCertificates(), Database: db,
		DBUser: req.GetDbUser(), DBName: req.GetDbName(), ClientAddr: req.GetClientAddr(),
	}
	id, err := a.S.Authorizer.Identify(ctx, dbReq.Chain)
	if err != nil {
		return &apiv1.AuthorizeResponse{Allow: false, Message: "keyway: " + err.Error()}, nil
	}
	agentName := ""
	if a.remote() {
		agentName = a.Agent.Name
	}
	if msg := a.S.lockedSentence(ctx, id, db.Name, agentName); msg != "" {
		return &apiv1.AuthorizeResponse{Allow: false, Message: msg}, nil
	}
	d := a.S.Authorizer.AuthorizeIdentity(ctx, id, dbReq)
	resp := &apiv1.AuthorizeResponse{Allow: d.Allow, Message: d.Message}
	if d.Allow {
		roles, err := a.S.Authorizer.Roles.Roles(ctx)
		if err != nil {
			return &apiv1.AuthorizeResponse{Allow: false, Message: "keyway: cannot read the roles' session limits, so the session is refused: " + err.Error()}, nil
		}
		resp.IdleTimeoutMs = access.IdleTimeout(roles, id.Roles).Milliseconds()
		if a.S.Live != nil {
			limit, by := access.MaxConnections(roles, id.Roles)
			live := LiveSession{ID: req.GetSessionId(), Agent: agentName, Identity: id, Database: db,
				Request: dbReq, NotAfter: id.NotAfter, Stored: a.S.storedUser(ctx, id)}
			if !a.S.Live.admitUnder(ctx, live, limit, a.S.now()) {
				return &apiv1.AuthorizeResponse{Allow: false, Refusal: sdk.RefusalTooManySessions, Message: fmt.Sprintf(
					"keyway: %s already has %d sessions open through this proxy, the max_connections of the role %s; close one and connect again",
					id.Name, limit, by)}, nil
			}
		}
		if a.remote() {
			a.S.Grants.allow(req.GetSessionId(), req.GetDbUser())
		}
	}
	for _, r := range d.Reasons {
		resp.Reasons = append(resp.Reasons, &apiv1.Reason{Effect: r.Effect, Role: r.Role, Rule: r.Rule, Message: r.Message})
	}
	return resp, nil
}

// SignDBClient signs the certificate an agent presents to a database:
// only through an agent's tunnel, for a session this proxy routed to that
// agent and allowed as that database user. Each one is recorded as
// cert.issued (TC004) naming the session.
func (a AgentService) SignDBClient(ctx context.Context, req *apiv1.SignDBClientRequest) (*apiv1.SignDBClientResponse, error) {
	if !a.remote() {
		return nil, status.Error(codes.FailedPrecondition, "db-client certificates are signed for agents only through their tunnels")
	}
	ev := DBClientIssued(req.GetSessionId(), a.Agent.Name, req.GetDatabase(), req.GetDbUser(), time.Time{})
	g, err := a.S.Grants.checkSign(a.Agent.Name, req.GetSessionId(), req.GetDatabase(), req.GetDbUser())
	if err != nil {
		return nil, a.refuse(ctx, ev, err)
	}
	ev.User, ev.SpiffeID = g.User, g.SpiffeID
	cert, notAfter, err := authority.IssueDBClient(ctx, a.S.CA, req.GetDbUser(), req.GetCsr(), DBClientTTL, a.S.now())
	if err != nil {
		err = status.Error(codes.InvalidArgument, err.Error())
		a.S.record(ctx, ev, err)
		return nil, err
	}
	ev.Reason = DBClientIssued(req.GetSessionId(), a.Agent.Name, req.GetDatabase(), req.GetDbUser(), notAfter).Reason
	a.S.record(ctx, ev, nil)
	return &apiv1.SignDBClientResponse{Certificate: cert, NotAfterUnix: notAfter.Unix()}, nil
}

// DBClientIssued is the cert.issued event (TC004) of a db-client
// certificate signed for a session's agent (agent "" for this process's
// own databases); notAfter is zero when nothing was signed. It names the
// session but leaves db_service empty, so that a search by database
// lists the sessions' own trails; the reason names the database.
func DBClientIssued(sessionID, agent, database, dbUser string, notAfter time.Time) audit.Event {
	by := "this process"
	if agent != "" {
		by = "agent " + agent
	}
	reason := "db-client certificate for " + by + " to serve the session on database " + database
	if !notAfter.IsZero() {
		reason += ", valid until " + notAfter.UTC().Format(time.RFC3339)
	}
	return audit.Event{Event: audit.CertIssued, Code: "TC004", SessionID: sessionID,
		Target: "db-client/" + dbUser, DBUser: dbUser, Reason: reason}
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

// Audit records the agent's events in the cluster's audit log: only
// db.session.* events of sessions this proxy routed to the agent, with
// the session's database and client, and the agent as their target. One
// event that is not the agent's refuses the whole batch, naming it, so
// that nothing of a forged batch is written.
func (a AgentService) Audit(ctx context.Context, req *apiv1.AuditRequest) (*apiv1.AuditResponse, error) {
	if a.S.AuditLog == nil {
		return nil, status.Error(codes.Unavailable, "the auth service keeps no audit log")
	}
	events := make([]audit.Event, 0, len(req.GetEventsJson()))
	var d audit.Decoder
	for i, b := range req.GetEventsJson() {
		e, err := d.Decode(b)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		if a.remote() {
			if err := a.S.Grants.checkEvent(a.Agent.Name, &e); err != nil {
				err = fmt.Errorf("refusing the batch of %d audit events from the agent %s: event %d: %w", len(req.GetEventsJson()), a.Agent.Name, i+1, err)
				return nil, a.refuse(ctx, audit.Event{Event: audit.AgentRefused, Code: "TA001", Target: "agent/" + a.Agent.Name, Reason: "audit"}, err)
			}
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
