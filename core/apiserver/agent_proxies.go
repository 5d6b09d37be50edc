package apiserver

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/discovery"
)

// ProxyDirectory is the cluster's current set of proxies.
type ProxyDirectory interface {
	// Current returns the set and a channel closed when it changes.
	Current(ctx context.Context) ([]discovery.Proxy, <-chan struct{}, error)
}

// WatchProxies sends the agent the cluster's proxies, then the whole set
// again each time it changes, until the agent or its tunnel goes away.
// It follows the directory's one watch of the state backend; nothing is
// polled.
func (a AgentService) WatchProxies(_ *apiv1.WatchProxiesRequest, stream apiv1.Agent_WatchProxiesServer) error {
	if a.S.Proxies == nil {
		return status.Error(codes.Unimplemented, "this proxy does not know the cluster's other proxies")
	}
	ctx := stream.Context()
	for {
		set, changed, err := a.S.Proxies.Current(ctx)
		if err != nil {
			return status.Error(codes.Unavailable, err.Error())
		}
		if err := stream.Send(&apiv1.WatchProxiesResponse{Proxies: proxiesToProto(set)}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func proxiesToProto(set []discovery.Proxy) []*apiv1.Proxy {
	out := make([]*apiv1.Proxy, 0, len(set))
	for _, p := range set {
		out = append(out, &apiv1.Proxy{Addr: p.Addr, HostId: p.HostID})
	}
	return out
}

// proxyAddrs lists the proxies' public addresses for a client, or none
// when the directory is not known (yet).
func (s *Server) proxyAddrs(ctx context.Context) []string {
	if s.Proxies == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, proxyListWait)
	defer cancel()
	set, _, err := s.Proxies.Current(ctx)
	if err != nil {
		return nil
	}
	return discovery.Addrs(set)
}
