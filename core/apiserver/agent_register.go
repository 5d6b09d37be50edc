package apiserver

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
)

// Register replaces the databases the agent serves with those of the
// request its grant covers (the grant its join token carried); the rest
// are refused, recorded once each as agent.refused, answered with why,
// and never routed to. A database with a stored db resource is kept with
// the resource's labels, not the ones the agent claims. When the grant
// or the db resources cannot be read, the agent serves nothing: a
// grant that cannot be checked refuses. An agent whose token granted its
// first claim has its grant fixed by the first registration that names
// a database (auth.Service.ClaimGrant).
func (a AgentService) Register(ctx context.Context, req *apiv1.RegisterRequest) (*apiv1.RegisterResponse, error) {
	grant, held, err := a.grant(ctx, req)
	if err != nil {
		a.Agent.SetDatabases(nil)
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	var dbs []sdk.Database
	unhealthy := map[string]string{}
	refused := map[string]string{}
	resp := &apiv1.RegisterResponse{}
	for _, d := range req.GetDatabases() {
		stored, err := a.storedDatabase(ctx, d.GetName())
		if err != nil {
			a.Agent.SetDatabases(nil)
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		if err := grant.Check(d.GetName(), stored); err != nil {
			if other, ok := held[d.GetName()]; ok {
				err = fmt.Errorf("the agent %s was granted it, and a join token made without --db-names or --db-labels claims only databases no other agent was granted; grant it with keyway tokens add --type=db --db-names=%s", other, d.GetName())
			}
			reason := fmt.Sprintf("keyway refused the agent %s's registration of the database %s: %v; it routes no session there", a.Agent.Name, d.GetName(), err)
			refused[d.GetName()] = reason
			resp.Refused = append(resp.Refused, &apiv1.RefusedDatabase{Name: d.GetName(), Reason: reason})
			continue
		}
		db := sdk.Database{Name: d.GetName(), Description: d.GetDescription(), Protocol: d.GetProtocol(), Labels: d.GetLabels()}
		if stored != nil {
			db.Labels = stored.Labels
		}
		dbs = append(dbs, db)
		resp.Accepted = append(resp.Accepted, &apiv1.Database{Name: db.Name, Protocol: db.Protocol, Labels: db.Labels,
			Description: db.Description, Healthy: d.GetHealthy(), HealthDetail: d.GetHealthDetail()})
		if !d.GetHealthy() {
			unhealthy[d.GetName()] = d.GetHealthDetail()
		}
	}
	a.Agent.SetDatabases(dbs)
	a.Agent.SetHealth(unhealthy)
	for _, name := range a.Agent.SetRefused(refused) {
		a.S.record(ctx, audit.Event{Event: audit.AgentRefused, Code: "TA001", Target: "agent/" + a.Agent.Name,
			DBService: name, Reason: "register"}, status.Error(codes.PermissionDenied, refused[name]))
	}
	return resp, nil
}

// storedDatabase returns the db resource named name, or nil when none
// exists.
func (a AgentService) storedDatabase(ctx context.Context, name string) (*config.Database, error) {
	d, found, err := a.S.Auth.GetDatabase(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading the db resource %s to check the agent %s's grant: %w", name, a.Agent.Name, err)
	}
	if !found {
		return nil, nil
	}
	return &d, nil
}

// grant is the agent's grant for this registration: the one its host
// record keeps, or, on its first claim, the one the claim fixes, with
// the names another agent holds.
func (a AgentService) grant(ctx context.Context, req *apiv1.RegisterRequest) (auth.DBGrant, map[string]string, error) {
	grant, err := a.S.Auth.HostGrant(ctx, a.Agent.Name)
	if err != nil || !grant.FirstClaim || len(req.GetDatabases()) == 0 {
		return grant, nil, err
	}
	names := make([]string, 0, len(req.GetDatabases()))
	for _, d := range req.GetDatabases() {
		names = append(names, d.GetName())
	}
	return a.S.Auth.ClaimGrant(ctx, a.Agent.Name, names)
}
