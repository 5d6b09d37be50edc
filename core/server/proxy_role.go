package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/proxy"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// hostCertTTL is the lifetime of the proxy's own certificate; it is
// renewed at half-life.
const hostCertTTL = 24 * time.Hour

// hostCert keeps the proxy's certificate and renews it.
type hostCert struct {
	cert atomic.Pointer[tls.Certificate]
	req  authority.HostRequest
	ca   authority.CA
	log  hclog.Logger
	// issuedFor is the host authority's rotation state the certificate
	// was issued in; kick asks keepFresh to look at once.
	issuedFor atomic.Pointer[string]
	kick      chan struct{}
}

func newHostCert(ctx context.Context, ca authority.CA, cfg *config.Config, log hclog.Logger) (*hostCert, error) {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "proxy"
	}
	h := &hostCert{ca: ca, log: log, kick: make(chan struct{}, 1), req: authority.HostRequest{
		Cluster: cfg.ClusterName, Name: sanitizeHostName(name), SANs: hostSANs(cfg.Proxy.PublicAddr, cfg.Proxy.Listen), TTL: hostCertTTL,
	}}
	if err := h.renew(ctx); err != nil {
		return nil, fmt.Errorf("issuing the proxy's host certificate: %w", err)
	}
	return h, nil
}

// hostSANs are the names a host's certificate holds for its addresses:
// the loopback names, and each address's host unless it is a wildcard.
func hostSANs(addrs ...string) []string {
	sans := []string{"localhost", "127.0.0.1", "::1"}
	for _, addr := range addrs {
		if host, _, err := net.SplitHostPort(addr); err == nil && host != "" && host != "0.0.0.0" && host != "::" && !slices.Contains(sans, host) {
			sans = append(sans, host)
		}
	}
	return sans
}

func (h *hostCert) renew(ctx context.Context) error {
	state := h.rotationState(ctx)
	c, err := authority.SignHost(ctx, h.ca, h.req, time.Now())
	if err != nil {
		return err
	}
	h.cert.Store(&c)
	h.issuedFor.Store(&state)
	return nil
}

// rotationCheck is how often the proxy looks whether the host authority
// signs with a new key.
const rotationCheck = 15 * time.Second

// keepFresh renews the certificate at half-life, and as soon as the host
// authority's rotation changes phase (see rotationChanged), until ctx
// ends.
func (h *hostCert) keepFresh(ctx context.Context) {
	t := time.NewTicker(hostCertTTL / 2)
	defer t.Stop()
	check := time.NewTicker(rotationCheck)
	defer check.Stop()
	for {
		renew := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			renew = true
		case <-h.kick:
		case <-check.C:
		}
		if h.rotationChanged(ctx) {
			h.log.Info("the host authority's rotation changed phase; renewing the proxy's certificate")
			renew = true
		}
		if !renew {
			continue
		}
		if err := h.renew(ctx); err != nil {
			h.log.Error("renewing the proxy's host certificate", "error", err)
		}
	}
}

// sanitizeHostName keeps a host name usable in a SPIFFE ID path.
func sanitizeHostName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			out[i] = '-'
		}
	}
	return string(out)
}

// dbResources finds the cluster's db resources.
type dbResources interface {
	GetDatabase(ctx context.Context, name string) (config.Database, bool, error)
}

// routes finds databases served in this process, then through agents'
// tunnels, and protocol plugins in the supervisor.
type routes struct {
	local   *agent.Registry
	tunnels *tunnel.Registry
	sup     *supervisor.Supervisor
	// resources, if set, tells a db resource that no agent serves from
	// an unknown database.
	resources dbResources
	// grants receives a grant for each session routed to an agent.
	grants sessionGrants
}

// sessionGrants record the grant of each session routed to an agent,
// which lets the agent ask for what the session needs.
type sessionGrants interface {
	// grant records the grant of a session routed to the agent a; end
	// marks the session ended, when its stream closes.
	grant(ctx context.Context, a *tunnel.Agent, s *proxy.Session) (end func(), err error)
}

// localGrants keeps grants in this process, whose API the agents call.
type localGrants struct{ g *apiserver.Grants }

func (l localGrants) grant(_ context.Context, a *tunnel.Agent, s *proxy.Session) (func(), error) {
	return l.g.Add(grantFor(a.Name, s)), nil
}

// Database routes a session: to this process when it serves the database
// and its last check passed, else to an agent whose last check passed
// (round robin), else to whichever serves it, so that the session's error
// says what is wrong.
func (r routes) Database(ctx context.Context, name string) (sdk.Database, proxy.Target, bool, error) {
	var remote *tunnel.Agent
	var remoteDB sdk.Database
	if r.tunnels != nil {
		remote, remoteDB, _ = r.tunnels.Find(name)
	}
	if r.local != nil {
		db, found, err := r.local.Get(ctx, name)
		localHealthy, _ := r.local.Health(name)
		remoteBetter := remote != nil && !localHealthy && healthy(remote, name)
		if found && !remoteBetter {
			if err != nil {
				return db, nil, true, err
			}
			t, err := r.Protocol(db.Protocol)
			return db, t, true, err
		}
	}
	if remote != nil {
		return remoteDB, tunnelTarget{a: remote, grants: r.grants}, true, nil
	}
	if r.resources != nil {
		if d, found, err := r.resources.GetDatabase(ctx, name); err == nil && found {
			return agent.Describe(d), nil, true, fmt.Errorf("no connected agent serves it; an agent serves a db resource when its resources selector matches the labels %s", labelList(d.Labels))
		}
	}
	return sdk.Database{}, nil, false, nil
}

func healthy(a *tunnel.Agent, db string) bool {
	ok, _ := a.Healthy(db)
	return ok
}

// labelList writes labels as {k=v, ...} in key order.
func labelList(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+labels[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Protocol returns this process's plugin of the protocol called name.
func (r routes) Protocol(name string) (proxy.Target, error) {
	in, err := r.sup.Protocol(name)
	if err != nil {
		return nil, err
	}
	return pluginTarget{in}, nil
}

// OutOfBandTargets are this process's plugin of the protocol and every
// agent that serves a database of it, those whose route tag is tag when
// it is set.
func (r routes) OutOfBandTargets(name string, tag []byte) []proxy.Target {
	var out []proxy.Target
	if t, err := r.Protocol(name); err == nil && (tag == nil || bytes.Equal(tag, t.(pluginTarget).keyTag())) {
		out = append(out, t)
	}
	if r.tunnels != nil {
		for _, a := range r.tunnels.Agents() {
			if a.Serves(name) && (tag == nil || bytes.Equal(tag, proxy.KeyTag(proxy.AgentRoute(a.Name)))) {
				out = append(out, tunnelTarget{a: a, grants: r.grants})
			}
		}
	}
	return out
}

// sessionMeta encodes what the proxy knows of a session for a plugin.
// keyTag is the route tag of the plugin or agent that serves it.
func sessionMeta(s *proxy.Session, keyTag []byte) *pluginv1.Session {
	meta := &pluginv1.Session{
		Id: s.ID, Listener: "proxy", ClientAddr: s.ClientAddr, LocalAddr: s.LocalAddr,
		Prefix: s.Prefix, AcceptedUnixNano: s.AcceptedAt.UnixNano(), ClientCertificates: s.Chain,
		Preface: s.Preface, KeyTag: keyTag, Protocol: s.Protocol,
	}
	if s.Database != nil {
		meta.Database = agent.DatabaseToProto(*s.Database)
	}
	if s.Refusal != nil {
		meta.Refusal = &pluginv1.Refusal{Kind: s.Refusal.Kind, Message: s.Refusal.Message}
	}
	return meta
}

// pluginTarget hands sessions to a protocol plugin of this process over
// a socket pair.
type pluginTarget struct{ in *supervisor.Instance }

func (t pluginTarget) Open(ctx context.Context, s *proxy.Session) (net.Conn, error) {
	return handToPlugin(ctx, t.in, sessionMeta(s, t.keyTag()))
}

// keyTag is the route tag of this process's plugins.
func (pluginTarget) keyTag() []byte { return proxy.KeyTag(proxy.LocalRoute) }

// handToPlugin passes one end of a new socket pair to the plugin with the
// session's metadata and returns the other end.
func handToPlugin(ctx context.Context, in *supervisor.Instance, meta *pluginv1.Session) (net.Conn, error) {
	pipe, err := proxy.NewPipe()
	if err != nil {
		return nil, err
	}
	if err := in.Handoff(ctx, pipe.Remote(), meta); err != nil {
		pipe.Close()
		return nil, err
	}
	// The plugin holds its own copy now; ours must go so that the plugin
	// closing its end ends the stream.
	_ = pipe.Remote().Close()
	return pipe.Local(), nil
}

// tunnelTarget sends sessions to an agent through its tunnel. With
// grants set, each session for a database gets a grant, which lets the
// agent ask for that session's decision and db-client certificate and
// record its audit events; it ends when the session's stream closes. A
// cancel request (no database) gets none: its event belongs to the
// cancelled session.
type tunnelTarget struct {
	a      *tunnel.Agent
	grants sessionGrants
}

func (t tunnelTarget) Open(ctx context.Context, s *proxy.Session) (net.Conn, error) {
	if t.grants == nil || s.Database == nil {
		return t.a.OpenSession(ctx, sessionMeta(s, proxy.KeyTag(proxy.AgentRoute(t.a.Name))))
	}
	end, err := t.grants.grant(ctx, t.a, s)
	if err != nil {
		return nil, err
	}
	c, err := t.a.OpenSession(ctx, sessionMeta(s, proxy.KeyTag(proxy.AgentRoute(t.a.Name))))
	if err != nil {
		end()
		return nil, err
	}
	return &grantedConn{Conn: c, end: end}, nil
}

// grantFor is the grant of a session routed to an agent.
func grantFor(agentName string, s *proxy.Session) apiserver.Grant {
	return apiserver.NewGrant(agentName, s.ID, s.Database.Name, s.Chain)
}

// grantedConn ends its session's grant when closed. Like the tunnel's
// stream it wraps, it cannot be half-closed.
type grantedConn struct {
	net.Conn
	once sync.Once
	end  func()
}

func (c *grantedConn) Close() error {
	c.once.Do(c.end)
	return c.Conn.Close()
}

// routeVerifier checks client certificates against the user authority and
// reads the database they are for.
type routeVerifier struct{ trust *access.Trust }

func (v routeVerifier) Route(ctx context.Context, chain [][]byte) (string, error) {
	leaf, err := v.trust.VerifyClient(ctx, chain)
	if err != nil {
		return "", err
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil {
		return "", fmt.Errorf("the client certificate carries no keyway identity: %v", err)
	}
	if id.Route == nil || id.Route.Service == "" {
		return "", fmt.Errorf("the certificate of %s is not for a database; run keyway db login NAME and connect with the certificate it writes", id.Name)
	}
	return id.Route.Service, nil
}
