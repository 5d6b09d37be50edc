package agent

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Tunnels keeps one tunnel to each of the cluster's proxies, so that
// every proxy can route sessions to this agent without forwarding them to
// another proxy. It starts from the configured proxy and the set saved at
// the last run, learns the current set through each tunnel's
// WatchProxies stream, dials proxies as they appear, and stops
// reconnecting to one once it has left the set and its tunnel broke. The
// configured proxy is always kept: it is how the agent finds its way
// back when every other address is stale.
type Tunnels struct {
	// Seed is the configured proxy_addr.
	Seed string
	// Identity is the agent's, as renewal keeps it.
	Identity *CurrentIdentity
	// DataDir holds the saved set (DATA_DIR/agent/proxies.json).
	DataDir  string
	Registry *Registry
	Remote   *Remote
	Deliver  Deliver
	Logger   hclog.Logger
	// DataConns is how many data connections each tunnel keeps
	// (TunnelClient.DataConns).
	DataConns int
	// Handoff passes data connections to a plugin before TLS
	// (TunnelClient.Handoff).
	Handoff DataHandoff

	mu      sync.Mutex
	ctx     context.Context
	closed  bool         // set when Run stops: no link starts after
	known   []KnownProxy // the last set a proxy reported, or the saved one
	saved   []KnownProxy // what the file holds
	links   map[string]bool
	up      map[string]bool
	running sync.WaitGroup
}

// TunnelStatus is one wanted proxy and whether its tunnel is up.
type TunnelStatus struct {
	Proxy string
	Up    bool
}

// Run keeps the tunnels until ctx ends, and returns once they are down.
func (t *Tunnels) Run(ctx context.Context) {
	saved, err := LoadKnownProxies(t.DataDir)
	if err != nil {
		t.Logger.Warn("ignoring the saved set of proxies", "error", err)
	}
	t.mu.Lock()
	t.ctx, t.known, t.saved = ctx, saved, saved
	t.links, t.up = map[string]bool{}, map[string]bool{}
	t.startWanted()
	t.mu.Unlock()
	if len(saved) > 0 {
		t.Logger.Info("proxies known from the last run", "proxies", addrsOf(saved))
	}
	<-ctx.Done()
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.running.Wait()
}

// Status lists the wanted proxies by address.
func (t *Tunnels) Status() []TunnelStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TunnelStatus, 0, len(t.links))
	for addr := range t.links {
		out = append(out, TunnelStatus{Proxy: addr, Up: t.up[addr]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Proxy < out[j].Proxy })
	return out
}

// learn takes the set a proxy reported: it dials the new proxies and
// saves the set for the next start. An empty set (a proxy that publishes
// no address) changes nothing: the agent keeps what it knew.
func (t *Tunnels) learn(set []KnownProxy) {
	set = normalizeProxies(set)
	if len(set) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.Equal(set, t.known) && slices.Equal(set, t.saved) {
		return
	}
	if !slices.Equal(set, t.known) {
		t.Logger.Info("the cluster's proxies", "proxies", addrsOf(set))
	}
	t.known = set
	t.startWanted()
	if slices.Equal(set, t.saved) {
		return
	}
	if err := SaveKnownProxies(t.DataDir, set); err != nil {
		t.Logger.Warn("the set of proxies is not saved; a restart knows only the configured proxy", "error", err)
		return
	}
	t.saved = set
}

// startWanted starts a link for each wanted proxy without one; t.mu is
// held.
func (t *Tunnels) startWanted() {
	for _, addr := range t.wanted() {
		if t.links[addr] || t.closed {
			continue
		}
		t.links[addr] = true
		t.running.Add(1)
		go t.link(addr)
	}
}

// wanted is the configured proxy and the known set; t.mu is held.
func (t *Tunnels) wanted() []string {
	out := []string{t.Seed}
	for _, p := range t.known {
		if p.Addr != t.Seed {
			out = append(out, p.Addr)
		}
	}
	return out
}

// link keeps the tunnel to one proxy while it is wanted.
func (t *Tunnels) link(addr string) {
	defer t.running.Done()
	c := &TunnelClient{
		ProxyAddr: addr, Identity: t.Identity, Registry: t.Registry, Remote: t.Remote,
		Deliver: t.Deliver, Logger: t.Logger, DataConns: t.DataConns, Handoff: t.Handoff,
		HostID:       func() string { return t.hostID(addr) },
		Proxies:      t.learn,
		Keep:         func() bool { return t.keep(addr) },
		Connected:    func() { t.setUp(addr, true) },
		Disconnected: func() { t.setUp(addr, false) },
	}
	c.Run(t.ctx)
}

// keep reports whether addr is still wanted after its tunnel broke, and
// forgets the link when not; t.learn starts a new one if it comes back.
func (t *Tunnels) keep(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.Contains(t.wanted(), addr) {
		return true
	}
	delete(t.links, addr)
	delete(t.up, addr)
	return false
}

// hostID is the identity addr's proxy published, if known. The
// configured proxy is checked only for being a host of the cluster: a
// stale saved identity must never lock the agent out of the one address
// its operator gave it.
func (t *Tunnels) hostID(addr string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if addr == t.Seed {
		return ""
	}
	for _, p := range t.known {
		if p.Addr == addr {
			return p.HostID
		}
	}
	return ""
}

func (t *Tunnels) setUp(addr string, up bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.links[addr] {
		t.up[addr] = up
	}
}

func addrsOf(set []KnownProxy) []string {
	out := make([]string, len(set))
	for i, p := range set {
		out[i] = p.Addr
	}
	return out
}
