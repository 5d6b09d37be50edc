// Package apiserver serves keyway's cluster API (core/api): logins and
// joins, the user's database listing and certificates, and the calls
// agents make through their tunnels.
package apiserver

import (
	"context"
	"crypto/x509"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// Lifetimes of the certificates the API issues.
const (
	UserCertTTL = authority.DefaultUserTTL
	// HostCertTTL is the default lifetime of agents' host certificates
	// (Server.HostTTL).
	HostCertTTL = 30 * 24 * time.Hour
	DBClientTTL = time.Hour
)

// proxyListWait bounds how long a login waits for the first listing of
// the cluster's proxies.
const proxyListWait = 2 * time.Second

// Databases lists the databases of the cluster, wherever they are served.
type Databases interface {
	// List returns every database, sorted by name, with the agents that
	// serve it.
	List(ctx context.Context) []ListedDatabase
	Get(ctx context.Context, name string) (sdk.Database, bool)
}

// ListedDatabase is a database of the cluster with the agents serving it.
type ListedDatabase struct {
	Database sdk.Database
	// Agents serve it, each with the result of its last check of it. A
	// db resource that no connected agent serves has none.
	Agents []AgentHealth
}

// AgentHealth is one agent's last check of a database.
type AgentHealth struct {
	Name    string
	Healthy bool
	// Detail is why the check failed.
	Detail string
}

// Server holds what the API services need.
type Server struct {
	Cluster    string
	Version    string
	CA         authority.CA
	Trust      *access.Trust
	Auth       *auth.Service
	Authorizer *access.Authorizer
	Databases  Databases
	Now        func() time.Time
	// Audit, if set, records logins and issued certificates.
	Audit func(ctx context.Context, e audit.Event)
	// AuditLog receives the events agents send through their tunnels.
	AuditLog audit.Log
	// Proxies, if set, is the cluster's set of proxies, which agents
	// watch and logins return.
	Proxies ProxyDirectory
	// HostTTL is the lifetime of the host certificates agents get at
	// join and renewal; HostCertTTL when zero.
	HostTTL time.Duration
	// Limits, if set, are the API's rate limits per client address,
	// applied by the options UnaryLimits and StreamLimits.
	Limits *Limits
	// Grants are the sessions this process routed to agents, which is
	// all an agent may ask for through its tunnel.
	Grants *Grants
	// Clients, if set, says how the clients of the protocol called name
	// connect, as its plugin declared; false when no plugin of it runs.
	Clients func(name string) (*apiv1.Client, bool)
	// Live, if set, holds the sessions this process authorised, which
	// its enforcer ends when a lock, an expiry or a change of users and
	// roles takes their access away.
	Live *LiveSessions
	// Remote, if set, are the agents' tunnels to proxies that run
	// without the auth role (the ProxyAuth service).
	Remote *RemoteTunnels

	// proxies caches the hosts that joined as proxies.
	proxies proxyHosts
}

// hostTTL is the lifetime of agents' host certificates.
func (s *Server) hostTTL() time.Duration {
	if s.HostTTL > 0 {
		return s.HostTTL
	}
	return HostCertTTL
}

// record audits an API event.
func (s *Server) record(ctx context.Context, e audit.Event, err error) {
	if s.Audit == nil {
		return
	}
	e.Success = err == nil
	if err != nil {
		e.Error = status.Convert(err).Message()
	}
	if p, ok := peer.FromContext(ctx); ok && e.ClientAddr == "" {
		e.ClientAddr = p.Addr.String()
	}
	s.Audit(ctx, e)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// caller verifies the client certificate of a call against the user
// authority and returns its identity.
func (s *Server) caller(ctx context.Context) (identity.Identity, error) {
	chain, err := peerChain(ctx)
	if err != nil {
		return identity.Identity{}, err
	}
	id, err := s.Authorizer.Identify(ctx, chain)
	if err != nil {
		return identity.Identity{}, status.Error(codes.Unauthenticated, err.Error())
	}
	return id, nil
}

func peerChain(ctx context.Context) ([][]byte, error) {
	certs, err := peerCertificates(ctx)
	if err != nil {
		return nil, err
	}
	chain := make([][]byte, 0, len(certs))
	for _, c := range certs {
		chain = append(chain, c.Raw)
	}
	return chain, nil
}

// peerCertificates is the certificate chain the caller's TLS presented,
// leaf first.
func peerCertificates(ctx context.Context) ([]*x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "this call needs TLS with a client certificate")
	}
	if len(info.State.PeerCertificates) == 0 {
		return nil, status.Error(codes.Unauthenticated, "this call needs a client certificate: log in with keyway login")
	}
	return info.State.PeerCertificates, nil
}

// hostCAs returns the host authority's certificates.
func (s *Server) hostCAs(ctx context.Context) ([][]byte, error) {
	st, err := authority.State(ctx, s.CA, sdk.AuthorityHost)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return authority.ServerSignerFirst(st), nil
}

func (s *Server) authorityCerts(ctx context.Context, a sdk.Authority) ([][]byte, error) {
	st, err := authority.State(ctx, s.CA, a)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return authority.ServerSignerFirst(st), nil
}

// remaining is how long a certificate has left.
func remaining(chain [][]byte, now time.Time) time.Duration {
	if len(chain) == 0 {
		return 0
	}
	c, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return 0
	}
	return c.NotAfter.Sub(now)
}
