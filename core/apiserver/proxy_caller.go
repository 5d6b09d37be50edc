package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/sdk/identity"
)

// Metadata a proxy without the auth role sets on the calls it forwards
// to the auth service (see the ProxyAuth service).
const (
	// MDClientAddr is the address of the client whose call the proxy
	// forwards.
	MDClientAddr = "keyway-client-addr"
	// MDClientChain is the client's certificate chain as the proxy's TLS
	// received it, one DER certificate per value.
	MDClientChain = "keyway-client-chain-bin"
	// MDTunnel names the agent's tunnel whose Agent call the proxy
	// forwards (TunnelRequest.tunnel_id).
	MDTunnel = "keyway-tunnel"
)

// proxyCacheTTL is how long the auth service trusts that a host joined as
// a proxy before it reads the host's record again.
const proxyCacheTTL = 30 * time.Second

// proxyHosts caches the host names that joined as proxies.
type proxyHosts struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// proxyCaller returns the name of the proxy that makes a call: a host
// certificate of the cluster whose host joined with a proxy token.
func (s *Server) proxyCaller(ctx context.Context) (string, identity.Identity, error) {
	certs, err := peerCertificates(ctx)
	if err != nil {
		return "", identity.Identity{}, err
	}
	leaf, err := s.Trust.VerifyHost(ctx, certs)
	if err != nil {
		return "", identity.Identity{}, status.Error(codes.Unauthenticated, err.Error())
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil || id.Kind != identity.KindHost {
		return "", identity.Identity{}, status.Error(codes.PermissionDenied, "this call is for proxies, which present a host certificate")
	}
	if err := s.checkProxy(ctx, id.Name); err != nil {
		return "", identity.Identity{}, err
	}
	return id.Name, id, nil
}

// checkProxy fails unless the host called name joined as a proxy.
func (s *Server) checkProxy(ctx context.Context, name string) error {
	now := s.now()
	s.proxies.mu.Lock()
	seen, ok := s.proxies.seen[name]
	s.proxies.mu.Unlock()
	if ok && now.Sub(seen) < proxyCacheTTL {
		return nil
	}
	isProxy, err := s.Auth.IsProxy(ctx, name)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	if !isProxy {
		return status.Errorf(codes.PermissionDenied, "the host %s did not join as a proxy: only a host that joined with a proxy token (keyway tokens add --type=proxy) may make this call", name)
	}
	s.proxies.mu.Lock()
	if s.proxies.seen == nil {
		s.proxies.seen = map[string]time.Time{}
	}
	s.proxies.seen[name] = now
	s.proxies.mu.Unlock()
	return nil
}

// ForwardedUnary and ForwardedStream are server options that let a proxy
// name the client of a call it forwards (MDClientAddr, MDClientChain):
// the call then runs as the client's, with the client's address and
// certificate chain as its peer, which the handlers verify as they
// verify a client's own. A caller that is not a joined proxy and names
// a client is refused. They go before the limits, which count the
// client's address.
func (s *Server) ForwardedUnary() grpc.ServerOption {
	return grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		ctx, err := s.forwarded(ctx)
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	})
}

// ForwardedStream is ForwardedUnary for streams.
func (s *Server) ForwardedStream() grpc.ServerOption {
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		ctx, err := s.forwarded(ss.Context())
		if err != nil {
			return err
		}
		return next(srv, contextStream{ServerStream: ss, ctx: ctx})
	})
}

// contextStream is a server stream with another context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c contextStream) Context() context.Context { return c.ctx }

// forwarded returns the context of a call a proxy forwards for a client:
// with the client as its peer.
func (s *Server) forwarded(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	addrs, chain := md.Get(MDClientAddr), md.Get(MDClientChain)
	if len(addrs) == 0 && len(chain) == 0 {
		return ctx, nil
	}
	if _, _, err := s.proxyCaller(ctx); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "only a proxy may forward a client's call: %s", status.Convert(err).Message())
	}
	var certs []*x509.Certificate
	for _, der := range chain {
		c, err := x509.ParseCertificate([]byte(der))
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "the forwarded client certificate cannot be parsed: "+err.Error())
		}
		certs = append(certs, c)
	}
	p := &peer.Peer{Addr: forwardedAddr(addrs), AuthInfo: credentials.TLSInfo{
		State:          tls.ConnectionState{HandshakeComplete: true, PeerCertificates: certs},
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}}
	return peer.NewContext(ctx, p), nil
}

// forwardedAddr is the client's address a proxy forwarded.
func forwardedAddr(addrs []string) net.Addr {
	if len(addrs) == 0 {
		return clientAddr("unknown")
	}
	if a, err := net.ResolveTCPAddr("tcp", addrs[0]); err == nil && a.IP != nil {
		return a
	}
	return clientAddr(addrs[0])
}

// clientAddr is an address that is only a name.
type clientAddr string

func (a clientAddr) Network() string { return "tcp" }
func (a clientAddr) String() string  { return string(a) }

// ForwardClient returns ctx with the metadata that names a client to the
// auth service, for a proxy forwarding the client's call.
func ForwardClient(ctx context.Context, addr string, chain [][]byte) context.Context {
	kv := []string{MDClientAddr, addr}
	for _, der := range chain {
		kv = append(kv, MDClientChain, string(der))
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}
