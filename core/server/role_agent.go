package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// protocolPlugins finds the running plugin of a protocol.
type protocolPlugins interface {
	Protocol(name string) (*supervisor.Instance, error)
}

// agentRole is the database agent, the config's db block: it keeps the
// health of the databases it serves, follows the db resources its
// selectors match and, when the auth role runs elsewhere, keeps tunnels
// to the cluster's proxies, through which sessions arrive.
type agentRole struct {
	logger  hclog.Logger
	plugins protocolPlugins
	checker *agent.Checker
	// dynamic follows db resources; nil without resources selectors.
	dynamic *agent.Dynamic
	// remote is the cluster's API through the tunnels; nil when the auth
	// role runs in this process.
	remote  *agent.Remote
	tunnels *agent.Tunnels
	renewer *agent.Renewer
	// data hands the tunnels' data connections to the protocol plugin
	// before TLS; nil without tunnels.
	data *agentData

	// The tunnels outlive Run: the plugins' last audit events cross them
	// while the plugins stop, so close ends them, after the plugins.
	linksCtx  context.Context
	endLinks  context.CancelFunc
	linksDone sync.WaitGroup
}

// agentParts are what the agent role is built from.
type agentParts struct {
	// local are the databases this process serves.
	local *agent.Registry
	// remote and id are set on an agent whose auth role runs elsewhere:
	// the cluster's API through its tunnels, and the identity it joined
	// with.
	remote *agent.Remote
	id     agent.Identity
	// feed follows the cluster's db resources.
	feed agent.DatabaseFeed
}

// newLocalDatabases is the registry of the databases the db block
// configures, whose servers are verified with the cluster's authorities
// from pems.
func newLocalDatabases(cfg *config.Config, pems agent.AuthorityPEM) (*agent.Registry, error) {
	reg, err := agent.NewRegistry(cfg.DB.Databases, pems)
	if err != nil {
		return nil, fmt.Errorf("the db block: %w", err)
	}
	return reg, nil
}

// joinCluster returns the identity of an agent whose auth role runs
// elsewhere: the one saved under the data directory, or, on the first
// start, a new one from joining the cluster through the proxy with the
// join token. An agent joins before anything else starts, so that it
// knows its cluster's name.
func joinCluster(ctx context.Context, cfg *config.Config, logger hclog.Logger) (agent.Identity, error) {
	db := cfg.DB
	id, found, err := agent.LoadIdentity(cfg.DataDir)
	if err != nil {
		return agent.Identity{}, fmt.Errorf("reading the agent's identity: %w", err)
	}
	if found {
		return id, nil
	}
	name := db.AgentName
	if name == "" {
		host, _ := os.Hostname()
		name = sanitizeHostName(host)
	}
	if id, err = agent.Join(ctx, db.ProxyAddr, db.TokenFile, cfg.DataDir, name); err != nil {
		return agent.Identity{}, err
	}
	logger.Info("joined the cluster", "cluster", id.Cluster, "proxy", db.ProxyAddr)
	return id, nil
}

// newAgentRole provisions the agent role: its health checker, the watch
// of db resources when the db block has resources selectors and, on an
// agent whose auth role runs elsewhere, its tunnels and the renewal of
// its host certificate. Nothing runs before Run.
func newAgentRole(n *node, p agentParts) *agentRole {
	logger := n.logger.Named("agent")
	a := &agentRole{logger: logger, plugins: n.sup, remote: p.remote}
	a.checker = &agent.Checker{Registry: p.local, Probe: n.probeDatabase, Logger: logger}
	if selectors := n.cfg.DB.Selectors(); len(selectors) > 0 {
		a.dynamic = &agent.Dynamic{
			Feed: p.feed, Selectors: selectors, Registry: p.local, Checker: a.checker,
			HasProtocol: n.hasProtocol, Logger: logger,
		}
	}
	a.linksCtx, a.endLinks = context.WithCancel(context.Background())
	if p.remote != nil {
		current := agent.NewCurrentIdentity(p.id)
		a.data = newAgentData(n.sup, p.local, current, logger)
		a.tunnels = &agent.Tunnels{
			Seed: n.cfg.DB.ProxyAddr, Identity: current, DataDir: n.cfg.DataDir, Registry: p.local, Remote: p.remote,
			Logger: logger, Deliver: a.deliver, DataConns: n.cfg.DB.DataConns(), Handoff: a.data,
		}
		a.renewer = &agent.Renewer{DataDir: n.cfg.DataDir, Identity: current, Remote: p.remote, Logger: logger}
	}
	return a
}

// Run checks the databases and follows db resources until ctx ends, and
// starts the tunnels, which close ends.
func (a *agentRole) Run(ctx context.Context) error {
	if a.tunnels != nil {
		a.linksDone.Go(func() { a.tunnels.Run(a.linksCtx) })
		a.linksDone.Go(func() { a.renewer.Run(a.linksCtx) })
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.checker.Run(ctx) })
	if a.dynamic != nil {
		wg.Go(func() { a.dynamic.Run(ctx) })
	}
	wg.Wait()
	return nil
}

// close ends the tunnels and the renewal; Run calls it after the plugins
// stopped.
func (a *agentRole) close() {
	a.endLinks()
	a.linksDone.Wait()
}

// ready fails while an agent whose auth role runs elsewhere has no
// tunnel up.
func (a *agentRole) ready() error {
	if a.remote != nil && !a.remote.Connected() {
		return fmt.Errorf("no tunnel to a proxy is up")
	}
	return nil
}

// report sets one gauge per wanted proxy: 1 while its tunnel is up.
func (a *agentRole) report(m *metrics.Metrics) {
	if a.tunnels == nil {
		return
	}
	up := 0
	for _, st := range a.tunnels.Status() {
		v := float32(0)
		if st.Up {
			v, up = 1, up+1
		}
		m.SetGaugeWithLabels([]string{"agent", "tunnel", "up"}, v, []metrics.Label{{Name: "proxy", Value: st.Proxy}})
	}
	m.SetGauge([]string{"agent", "tunnels", "up"}, float32(up))
}

// deliver hands a session from the tunnel to the local plugin of its
// database's protocol, and relays it on a goroutine of its own (see
// agent.Deliver); done closes the session's stream.
func (a *agentRole) deliver(ctx context.Context, stream net.Conn, meta *pluginv1.Session, done func()) {
	if meta.GetEndSessions() != nil {
		a.endForProxy(ctx, stream, meta)
		done()
		return
	}
	protocol := meta.GetDatabase().GetProtocol()
	if protocol == "" {
		// An out-of-band request names no database, only its protocol.
		protocol = meta.GetProtocol()
	}
	in, err := a.plugins.Protocol(protocol)
	if err != nil {
		done()
		a.logger.Error("no protocol plugin for a session", "protocol", protocol, "session", meta.GetId(), "error", err)
		return
	}
	local, err := handToPlugin(ctx, in, meta)
	if err != nil {
		done()
		a.logger.Error("cannot hand a session to its plugin", "error", err)
		return
	}
	go func() {
		sdk.Relay(stream, local)
		_ = local.Close()
		done()
	}()
}
