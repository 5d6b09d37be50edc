package apiserver

import (
	"strings"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// Health summaries of a listed database (apiv1.Database.status).
const (
	// StatusHealthy: some agent serving the database passed its last
	// check; sessions go to such agents.
	StatusHealthy = "healthy"
	// StatusUnhealthy: agents serve it, but none passed its last check.
	StatusUnhealthy = "unhealthy"
	// StatusNoAgent: a db resource that no connected agent serves.
	StatusNoAgent = "no_agent"
)

// listedToProto describes a listed database with its agents and a
// summary of their health.
func listedToProto(l ListedDatabase) *apiv1.Database {
	db := l.Database
	out := &apiv1.Database{Name: db.Name, Description: db.Description, Protocol: db.Protocol, Labels: db.Labels}
	var why []string
	for _, a := range l.Agents {
		out.Agents = append(out.Agents, &apiv1.DatabaseAgent{Name: a.Name, Healthy: a.Healthy, HealthDetail: a.Detail})
		if a.Healthy {
			out.Healthy = true
		} else {
			why = append(why, a.Name+": "+a.Detail)
		}
	}
	switch {
	case len(l.Agents) == 0:
		out.Status, out.HealthDetail = StatusNoAgent, "no connected agent serves it"
	case out.Healthy:
		out.Status = StatusHealthy
	default:
		out.Status, out.HealthDetail = StatusUnhealthy, strings.Join(why, "; ")
	}
	return out
}
