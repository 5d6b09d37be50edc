package apiserver

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// ForwardedAgents serves, on the auth service's own port, the Agent calls
// that proxies without the auth role forward for the agents whose
// tunnels reach them: each names its tunnel (MDTunnel), which the proxy
// opened with ProxyAuth.Tunnel, and is answered as an agent's call
// through a tunnel to this process is. Authorities needs no tunnel: a
// proxy asks it for its own trust.
type ForwardedAgents struct {
	apiv1.UnimplementedAgentServer
	S *Server
}

// agent returns the service of the tunnel a forwarded call names.
func (f ForwardedAgents) agent(ctx context.Context) (AgentService, error) {
	if f.S.Remote == nil {
		return AgentService{}, status.Error(codes.Unimplemented, "this auth service takes no tunnels from proxies")
	}
	name, _, err := f.S.proxyCaller(ctx)
	if err != nil {
		return AgentService{}, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	ids := md.Get(MDTunnel)
	if len(ids) != 1 {
		return AgentService{}, status.Error(codes.InvalidArgument, "a forwarded agent call names one tunnel in "+MDTunnel)
	}
	t, ok := f.S.Remote.get(name, ids[0])
	if !ok {
		return AgentService{}, status.Errorf(codes.FailedPrecondition, "the proxy %s has no tunnel %s open at the auth service", name, ids[0])
	}
	return AgentService{S: f.S, Agent: t.Agent, Refusals: t.Refusals}, nil
}

// Register serves a forwarded Agent.Register.
func (f ForwardedAgents) Register(ctx context.Context, req *apiv1.RegisterRequest) (*apiv1.RegisterResponse, error) {
	a, err := f.agent(ctx)
	if err != nil {
		return nil, err
	}
	return a.Register(ctx, req)
}

// Authorize serves a forwarded Agent.Authorize.
func (f ForwardedAgents) Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error) {
	a, err := f.agent(ctx)
	if err != nil {
		return nil, err
	}
	return a.Authorize(ctx, req)
}

// SignDBClient serves a forwarded Agent.SignDBClient.
func (f ForwardedAgents) SignDBClient(ctx context.Context, req *apiv1.SignDBClientRequest) (*apiv1.SignDBClientResponse, error) {
	a, err := f.agent(ctx)
	if err != nil {
		return nil, err
	}
	return a.SignDBClient(ctx, req)
}

// Authorities gives a proxy, or an agent through it, the cluster's
// authorities' certificates.
func (f ForwardedAgents) Authorities(ctx context.Context, req *apiv1.AuthoritiesRequest) (*apiv1.AuthoritiesResponse, error) {
	if _, _, err := f.S.proxyCaller(ctx); err != nil {
		return nil, err
	}
	return AgentService{S: f.S}.Authorities(ctx, req)
}

// Audit serves a forwarded Agent.Audit.
func (f ForwardedAgents) Audit(ctx context.Context, req *apiv1.AuditRequest) (*apiv1.AuditResponse, error) {
	a, err := f.agent(ctx)
	if err != nil {
		return nil, err
	}
	return a.Audit(ctx, req)
}

// WatchDatabases serves a forwarded Agent.WatchDatabases.
func (f ForwardedAgents) WatchDatabases(req *apiv1.WatchDatabasesRequest, stream grpc.ServerStreamingServer[apiv1.WatchDatabasesResponse]) error {
	a, err := f.agent(stream.Context())
	if err != nil {
		return err
	}
	return a.WatchDatabases(req, stream)
}

// WatchProxies serves a forwarded Agent.WatchProxies.
func (f ForwardedAgents) WatchProxies(req *apiv1.WatchProxiesRequest, stream apiv1.Agent_WatchProxiesServer) error {
	a, err := f.agent(stream.Context())
	if err != nil {
		return err
	}
	return a.WatchProxies(req, stream)
}

// RenewHost serves a forwarded Agent.RenewHost: the agent's name is the
// one its tunnel's mutual TLS proved to the proxy.
func (f ForwardedAgents) RenewHost(ctx context.Context, req *apiv1.RenewHostRequest) (*apiv1.RenewHostResponse, error) {
	a, err := f.agent(ctx)
	if err != nil {
		return nil, err
	}
	return a.RenewHost(ctx, req)
}
