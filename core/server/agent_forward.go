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

	mu  sync.Mutex
	ids map[*tunnel.Agent]string
}

func newAgentForwarder(link *authLink, logger hclog.Logger) *agentForwarder {
	return &agentForwarder{link: link, logger: logger, ids: map[*tunnel.Agent]string{}}
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
	f.mu.Lock()
	f.ids[a] = id
	f.mu.Unlock()
	var done sync.WaitGroup
	done.Go(func() { f.follow(ctx, stream, a, id, chain) })
	apiv1.RegisterAgentServer(gs, agentCalls{link: f.link, a: a, id: id})
	return func() {
		cancel()
		done.Wait()
		f.mu.Lock()
		delete(f.ids, a)
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
// registers its databases again at its next report.
func (f *agentForwarder) follow(ctx context.Context, stream apiv1.ProxyAuth_TunnelClient, a *tunnel.Agent, id string, chain [][]byte) {
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
	id, ok := f.ids[a]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("agent %s: its tunnel is closing", a.Name)
	}
	client := apiv1.NewProxyAuthClient(f.link.conn)
	if _, err := client.Route(ctx, &apiv1.RouteRequest{TunnelId: id, SessionId: s.ID, Database: s.Database.Name, ClientCertificates: s.Chain}); err != nil {
		return nil, fmt.Errorf("recording the session's route at the auth service: %w", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), routeEndTimeout)
		defer cancel()
		if _, err := client.Route(ctx, &apiv1.RouteRequest{TunnelId: id, SessionId: s.ID, Ended: true}); err != nil {
			f.logger.Debug("telling the auth service a session ended; its grant ends with its tail", "session", s.ID, "error", err)
		}
	}, nil
}

// agentCalls forwards one agent's Agent calls to the auth service,
// naming its tunnel.
type agentCalls struct {
	apiv1.UnimplementedAgentServer
	link *authLink
	a    *tunnel.Agent
	id   string
}

func (c agentCalls) client() apiv1.AgentClient { return apiv1.NewAgentClient(c.link.conn) }

func (c agentCalls) out(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, apiserver.MDTunnel, c.id)
}

// Register forwards the agent's databases, and routes to it the ones the
// auth service accepted, as it checked them.
func (c agentCalls) Register(ctx context.Context, req *apiv1.RegisterRequest) (*apiv1.RegisterResponse, error) {
	resp, err := c.client().Register(c.out(ctx), req)
	if err != nil {
		c.a.SetDatabases(nil)
		return nil, err
	}
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

func (c agentCalls) Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error) {
	return c.client().Authorize(c.out(ctx), req)
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
