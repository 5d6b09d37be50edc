package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/proxy"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// routeEndTimeout bounds the call that tells the auth service a
// session's stream closed.
const routeEndTimeout = 5 * time.Second

// agentForwarder serves, at a proxy without the auth role, the agents
// whose tunnels reach it: for each tunnel it holds a ProxyAuth.Tunnel
// stream to the auth service, forwards the agent's Agent calls naming
// the tunnel, records there the grant of each session it routes to the
// agent, and passes the auth service's orders to end sessions on to the
// agent.
type agentForwarder struct {
	link   *authLink
	logger hclog.Logger

	mu      sync.Mutex
	tunnels map[*tunnel.Agent]*forwardedTunnel
}

// forwardedTunnel is an agent's tunnel as the auth service knows it: its
// id there and the sessions routed through it that are still open, so
// that a restarted auth service learns them again.
type forwardedTunnel struct {
	id string

	mu   sync.Mutex
	live map[string]*liveRoute
	// registered is the agent's last registration, which a restarted
	// auth service is told again before its sessions.
	registered *apiv1.RegisterRequest
}

// liveRoute is an open session routed through a tunnel: its grant, and
// the decision the agent asked for, once it was allowed.
type liveRoute struct {
	route    *apiv1.RouteRequest
	protocol string
	allowed  *apiv1.AuthorizeRequest
}

func newAgentForwarder(link *authLink, logger hclog.Logger) *agentForwarder {
	return &agentForwarder{link: link, logger: logger, tunnels: map[*tunnel.Agent]*forwardedTunnel{}}
}

// serve opens the tunnel's stream to the auth service and registers the
// forwarding Agent service on gs; it fails when the auth service cannot
// be reached, and the agent dials again.
func (f *agentForwarder) serve(gs *grpc.Server, a *tunnel.Agent, c *tls.Conn) (func(), error) {
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	var chain [][]byte
	for _, cert := range c.ConnectionState().PeerCertificates {
		chain = append(chain, cert.Raw)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := f.open(ctx, a.Name, id, chain)
	if err != nil {
		cancel()
		return nil, err
	}
	ft := &forwardedTunnel{id: id, live: map[string]*liveRoute{}}
	f.mu.Lock()
	f.tunnels[a] = ft
	f.mu.Unlock()
	var done sync.WaitGroup
	done.Go(func() { f.follow(ctx, stream, a, ft, chain) })
	apiv1.RegisterAgentServer(gs, agentCalls{link: f.link, a: a, t: ft})
	return func() {
		cancel()
		done.Wait()
		f.mu.Lock()
		delete(f.tunnels, a)
		f.mu.Unlock()
	}, nil
}

// open opens a tunnel's stream and waits for the auth service to confirm
// its entry.
func (f *agentForwarder) open(ctx context.Context, agent, id string, chain [][]byte) (apiv1.ProxyAuth_TunnelClient, error) {
	stream, err := apiv1.NewProxyAuthClient(f.link.conn).Tunnel(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the agent's tunnel at the auth service: %w", err)
	}
	if err := stream.Send(&apiv1.TunnelRequest{Agent: agent, TunnelId: id, AgentCertificates: chain}); err != nil {
		return nil, fmt.Errorf("opening the agent's tunnel at the auth service: %w", err)
	}
	if _, err := stream.Recv(); err != nil {
		return nil, fmt.Errorf("opening the agent's tunnel at the auth service: %w", err)
	}
	return stream, nil
}

// follow passes the auth service's orders to end sessions on to the
// agent, and opens the tunnel's stream again when it breaks (the auth
// service restarted), until ctx ends with the tunnel. The agent
// registers its databases again at its next report; the open sessions
// are routed and decided again at once (see relearn).
func (f *agentForwarder) follow(ctx context.Context, stream apiv1.ProxyAuth_TunnelClient, a *tunnel.Agent, t *forwardedTunnel, chain [][]byte) {
	id := t.id
	backoff := 500 * time.Millisecond
	for {
		for {
			o, err := stream.Recv()
			if err != nil {
				break
			}
			backoff = 500 * time.Millisecond
			req := &pluginv1.EndSessionsRequest{SessionIds: o.GetSessionIds(), Kind: o.GetKind(), Message: o.GetMessage()}
			answer := &apiv1.TunnelRequest{Order: o.GetOrder()}
			if err := endThroughTunnel(ctx, a.OpenSession, o.GetProtocol(), req); err != nil {
				answer.Error = err.Error()
			}
			if err := stream.Send(answer); err != nil {
				break
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			var err error
			if stream, err = f.open(ctx, a.Name, id, chain); err == nil {
				f.logger.Info("the agent's tunnel is open at the auth service again", "agent", a.Name)
				f.relearn(ctx, a, t)
				break
			}
			f.logger.Debug("the auth service does not take the agent's tunnel yet", "agent", a.Name, "error", err)
		}
	}
}

// grant records at the auth service the grant of a session routed to the
// agent a, before the session reaches the agent.
func (f *agentForwarder) grant(ctx context.Context, a *tunnel.Agent, s *proxy.Session) (func(), error) {
	f.mu.Lock()
	t, ok := f.tunnels[a]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("agent %s: its tunnel is closing", a.Name)
	}
	id := t.id
	client := apiv1.NewProxyAuthClient(f.link.conn)
	route := &apiv1.RouteRequest{TunnelId: id, SessionId: s.ID, Database: s.Database.Name, ClientCertificates: s.Chain}
	if _, err := client.Route(ctx, route); err != nil {
		return nil, fmt.Errorf("the proxy cannot record the session at the cluster's auth service (%s); try again when it is back", status.Convert(err).Message())
	}
	t.mu.Lock()
	t.live[s.ID] = &liveRoute{route: route, protocol: s.Database.Protocol}
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		delete(t.live, s.ID)
		t.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), routeEndTimeout)
		defer cancel()
		if _, err := client.Route(ctx, &apiv1.RouteRequest{TunnelId: id, SessionId: s.ID, Ended: true}); err != nil {
			f.logger.Debug("telling the auth service a session ended; its grant ends with its tail", "session", s.ID, "error", err)
		}
	}, nil
}

// relearn tells an auth service that lost its memory (it restarted) the
// agent's databases and the sessions open through its tunnel: their
// grants, and their decisions,
// made again, which admits them among its live sessions again, so that
// a lock ends them and their audit events are taken. A session the new
// decision refuses is ended.
func (f *agentForwarder) relearn(ctx context.Context, a *tunnel.Agent, t *forwardedTunnel) {
	t.mu.Lock()
	live := make([]*liveRoute, 0, len(t.live))
	for _, l := range t.live {
		live = append(live, l)
	}
	registered := t.registered
	t.mu.Unlock()
	auth, agents := apiv1.NewProxyAuthClient(f.link.conn), agentCalls{link: f.link, a: a, t: t}
	if registered != nil {
		// The sessions' databases must be known before their decisions.
		if _, err := agents.Register(ctx, registered); err != nil {
			f.logger.Warn("registering the agent's databases again at the auth service; its sessions are decided at their next call", "agent", a.Name, "error", err)
			return
		}
	}
	for _, l := range live {
		if _, err := auth.Route(ctx, l.route); err != nil {
			f.logger.Warn("routing an open session again at the auth service", "session", l.route.GetSessionId(), "error", err)
			continue
		}
		if l.allowed == nil {
			continue
		}
		resp, err := agents.client().Authorize(agents.out(ctx), l.allowed)
		if err != nil {
			f.logger.Warn("deciding an open session again at the auth service", "session", l.route.GetSessionId(), "error", err)
			continue
		}
		if resp.GetAllow() {
			continue
		}
		req := &pluginv1.EndSessionsRequest{SessionIds: []string{l.route.GetSessionId()}, Kind: sdk.EndRevoked, Message: resp.GetMessage()}
		if err := endThroughTunnel(ctx, a.OpenSession, l.protocol, req); err != nil {
			f.logger.Warn("ending a session its new decision refuses", "session", l.route.GetSessionId(), "error", err)
		}
	}
}

// agentCalls forwards one agent's Agent calls to the auth service,
// naming its tunnel.
type agentCalls struct {
	apiv1.UnimplementedAgentServer
	link *authLink
	a    *tunnel.Agent
	t    *forwardedTunnel
}

func (c agentCalls) client() apiv1.AgentClient { return apiv1.NewAgentClient(c.link.conn) }

func (c agentCalls) out(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, apiserver.MDTunnel, c.t.id)
}

// Register forwards the agent's databases, and routes to it the ones the
// auth service accepted, as it checked them.
func (c agentCalls) Register(ctx context.Context, req *apiv1.RegisterRequest) (*apiv1.RegisterResponse, error) {
	resp, err := c.client().Register(c.out(ctx), req)
	if err != nil {
		c.a.SetDatabases(nil)
		return nil, err
	}
	c.t.mu.Lock()
	c.t.registered = req
	c.t.mu.Unlock()
	dbs := make([]sdk.Database, 0, len(resp.GetAccepted()))
	unhealthy := map[string]string{}
	for _, d := range resp.GetAccepted() {
		dbs = append(dbs, sdk.Database{Name: d.GetName(), Description: d.GetDescription(), Protocol: d.GetProtocol(), Labels: d.GetLabels()})
		if !d.GetHealthy() {
			unhealthy[d.GetName()] = d.GetHealthDetail()
		}
	}
	c.a.SetDatabases(dbs)
	c.a.SetHealth(unhealthy)
	return resp, nil
}

// Authorize forwards the agent's question, and keeps an allowed
// session's request to ask again after a restart of the auth service.
func (c agentCalls) Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error) {
	resp, err := c.client().Authorize(c.out(ctx), req)
	if err == nil && resp.GetAllow() {
		c.t.mu.Lock()
		if l, ok := c.t.live[req.GetSessionId()]; ok {
			l.allowed = req
		}
		c.t.mu.Unlock()
	}
	return resp, err
}

func (c agentCalls) SignDBClient(ctx context.Context, req *apiv1.SignDBClientRequest) (*apiv1.SignDBClientResponse, error) {
	return c.client().SignDBClient(c.out(ctx), req)
}

func (c agentCalls) Authorities(ctx context.Context, req *apiv1.AuthoritiesRequest) (*apiv1.AuthoritiesResponse, error) {
	return c.client().Authorities(c.out(ctx), req)
}

func (c agentCalls) Audit(ctx context.Context, req *apiv1.AuditRequest) (*apiv1.AuditResponse, error) {
	return c.client().Audit(c.out(ctx), req)
}

func (c agentCalls) RenewHost(ctx context.Context, req *apiv1.RenewHostRequest) (*apiv1.RenewHostResponse, error) {
	return c.client().RenewHost(c.out(ctx), req)
}

func (c agentCalls) WatchDatabases(req *apiv1.WatchDatabasesRequest, down grpc.ServerStreamingServer[apiv1.WatchDatabasesResponse]) error {
	up, err := c.client().WatchDatabases(c.out(down.Context()), req)
	if err != nil {
		return err
	}
	return relayStream(up.Recv, down.Send)
}

func (c agentCalls) WatchProxies(req *apiv1.WatchProxiesRequest, down apiv1.Agent_WatchProxiesServer) error {
	up, err := c.client().WatchProxies(c.out(down.Context()), req)
	if err != nil {
		return err
	}
	return relayStream(up.Recv, down.Send)
}

// relayStream passes a server stream's messages from the auth service on
// to the agent until either ends.
func relayStream[M any](recv func() (*M, error), send func(*M) error) error {
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := send(m); err != nil {
			return err
		}
	}
}
