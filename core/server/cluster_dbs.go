package server

import (
	"context"
	"sort"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

// localAgentName names this process when it serves databases itself
// (all-in-one) and has no agent_name.
const localAgentName = "local"

// clusterDatabases lists the databases of this process, of every
// connected agent, and the db resources that no agent serves.
type clusterDatabases struct {
	// local are the databases this process serves; nil without the db
	// block.
	local *agent.Registry
	// tunnels are the agents connected to this process's proxy, and
	// remote those connected to proxies without the auth role.
	tunnels *tunnel.Registry
	remote  *tunnel.Registry
	// resources are the cluster's db resources.
	resources *auth.Service
	// localName names this process in the list.
	localName string
	logger    hclog.Logger
}

func (c clusterDatabases) List(ctx context.Context) []apiserver.ListedDatabase {
	byName := map[string]*apiserver.ListedDatabase{}
	add := func(db sdk.Database, a *apiserver.AgentHealth) {
		l, ok := byName[db.Name]
		if !ok {
			l = &apiserver.ListedDatabase{Database: db}
			byName[db.Name] = l
		}
		if a != nil {
			l.Agents = append(l.Agents, *a)
		}
	}
	if c.local != nil {
		for _, db := range c.local.List() {
			ok, why := c.local.Health(db.Name)
			add(db, &apiserver.AgentHealth{Name: c.localName, Healthy: ok, Detail: why})
		}
	}
	for _, reg := range c.registries() {
		for _, l := range reg.List() {
			add(l.Database, &apiserver.AgentHealth{Name: l.Agent, Healthy: l.Healthy, Detail: l.Detail})
		}
	}
	if c.resources != nil {
		stored, err := c.resources.Databases(ctx)
		if err != nil {
			c.logger.Warn("listing db resources", "error", err)
		}
		for _, d := range stored {
			if _, served := byName[d.Name]; !served {
				add(agent.Describe(d), nil)
			}
		}
	}
	out := make([]apiserver.ListedDatabase, 0, len(byName))
	for _, l := range byName {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Database.Name < out[j].Database.Name })
	return out
}

// localName names this process when it serves databases itself.
func localName(cfg *config.Config) string {
	if cfg.DB != nil && cfg.DB.AgentName != "" {
		return cfg.DB.AgentName
	}
	return localAgentName
}

// Get finds a database served here or by an agent, or a db resource that
// no agent serves now: it can be authorised and logged in to, and its
// sessions are refused as unavailable until an agent serves it.
func (c clusterDatabases) Get(ctx context.Context, name string) (sdk.Database, bool) {
	if c.local != nil {
		if db, found, err := c.local.Get(ctx, name); err == nil && found {
			return db, true
		}
	}
	for _, reg := range c.registries() {
		if db, found := reg.Lookup(name); found {
			// Authorisation reads the stored resource's labels, as they
			// are now, never the ones an agent claims.
			if c.resources != nil {
				if d, stored, err := c.resources.GetDatabase(ctx, name); err == nil && stored {
					db.Labels = d.Labels
				}
			}
			return db, true
		}
	}
	if c.resources != nil {
		if d, found, err := c.resources.GetDatabase(ctx, name); err == nil && found {
			return agent.Describe(d), true
		}
	}
	return sdk.Database{}, false
}

// registries are the agents' tunnels to this process and to proxies
// without the auth role.
func (c clusterDatabases) registries() []*tunnel.Registry {
	if c.remote == nil {
		return []*tunnel.Registry{c.tunnels}
	}
	return []*tunnel.Registry{c.tunnels, c.remote}
}
