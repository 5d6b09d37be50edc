package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/yamux"
	"google.golang.org/grpc"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/tunnel"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// testCA is a host authority for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test host CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// issue signs a host certificate for spiffeID, valid for 127.0.0.1.
func (ca testCA) issue(t *testing.T, spiffeID string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: u.Path},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakeProxy accepts agents' tunnels like the proxy does (mutual TLS with
// the host authority, ALPN keyway-tunnel, yamux, the Agent API inside)
// and tells them the set of proxies it is given.
type fakeProxy struct {
	addr string
	// hostID is the identity the proxy publishes, whatever its
	// certificate says.
	hostID     string
	ln         net.Listener
	registered chan struct{} // one value per Register call
	refused    atomic.Int64  // handshakes the agent broke off
	refusedCh  chan struct{}

	mu       sync.Mutex
	set      []*apiv1.Proxy
	changed  chan struct{}
	sessions []*yamux.Session
}

func startFakeProxy(t *testing.T, ca testCA, hostID string, cert tls.Certificate) *fakeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProxy{addr: ln.Addr().String(), hostID: hostID, ln: ln, registered: make(chan struct{}, 100), refusedCh: make(chan struct{}, 100), changed: make(chan struct{})}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, NextProtos: []string{tunnel.ALPNTunnel}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(tls.Server(c, cfg))
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *fakeProxy) serve(c *tls.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		p.refused.Add(1)
		p.refusedCh <- struct{}{}
		return
	}
	sess, err := tunnel.Server(c)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.sessions = append(p.sessions, sess)
	p.mu.Unlock()
	gs := grpc.NewServer()
	apiv1.RegisterAgentServer(gs, fakeAgentServer{p: p})
	_ = gs.Serve(sess)
	gs.Stop()
}

// tell replaces the set the proxy reports.
func (p *fakeProxy) tell(set ...*fakeProxy) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set = nil
	for _, q := range set {
		p.set = append(p.set, &apiv1.Proxy{Addr: q.addr, HostId: q.hostID})
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *fakeProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sessions {
		_ = s.Close()
	}
}

type fakeAgentServer struct {
	apiv1.UnimplementedAgentServer
	p *fakeProxy
}

func (s fakeAgentServer) Register(context.Context, *apiv1.RegisterRequest) (*apiv1.RegisterResponse, error) {
	s.p.registered <- struct{}{}
	return &apiv1.RegisterResponse{}, nil
}

func (s fakeAgentServer) WatchProxies(_ *apiv1.WatchProxiesRequest, stream apiv1.Agent_WatchProxiesServer) error {
	for {
		s.p.mu.Lock()
		set, changed := s.p.set, s.p.changed
		s.p.mu.Unlock()
		if err := stream.Send(&apiv1.WatchProxiesResponse{Proxies: set}); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-changed:
		}
	}
}

// runTunnels starts an agent's tunnels with seed as its configured proxy.
func runTunnels(t *testing.T, ca testCA, seed string) (*Tunnels, string) {
	t.Helper()
	dataDir := t.TempDir()
	if err := os.MkdirAll(identityDir(dataDir), 0o700); err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tun := &Tunnels{
		Seed: seed, DataDir: dataDir, Registry: reg, Remote: &Remote{}, Logger: hclog.NewNullLogger(),
		Identity: NewCurrentIdentity(Identity{Cert: ca.issue(t, "spiffe://c/host/agent"), HostCAs: [][]byte{ca.cert.Raw}, Cluster: "c"}),
		Deliver:  func(_ context.Context, _ net.Conn, _ *pluginv1.Session, done func()) { done() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tun.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return tun, dataDir
}

// eventually polls cond every 20 ms for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestAgentTunnelsToEachProxyTheClusterNames(t *testing.T) {
	ca := newTestCA(t)
	p1 := startFakeProxy(t, ca, "spiffe://c/host/p1", ca.issue(t, "spiffe://c/host/p1"))
	p2 := startFakeProxy(t, ca, "spiffe://c/host/p2", ca.issue(t, "spiffe://c/host/p2"))
	p1.tell(p1, p2)
	tun, dataDir := runTunnels(t, ca, p1.addr)

	// Configured with p1 only, the agent registers with both.
	waitSignal(t, p1.registered, "the agent to register with the configured proxy")
	waitSignal(t, p2.registered, "the agent to register with the proxy it was told of")
	eventually(t, "both tunnels up", func() bool { return len(tun.Remote.Proxies()) == 2 })
	saved, err := LoadKnownProxies(dataDir)
	if err != nil || len(saved) != 2 {
		t.Fatalf("saved set %+v, %v; want both proxies", saved, err)
	}

	// p2 leaves the cluster and dies: the agent stops dialling it.
	p1.tell(p1)
	p2.close()
	eventually(t, "the agent to forget p2", func() bool {
		st := tun.Status()
		return len(st) == 1 && st[0].Proxy == p1.addr && st[0].Up
	})
	if got := tun.Remote.Proxies(); !slices.Equal(got, []string{p1.addr}) {
		t.Fatalf("tunnels up: %v", got)
	}
	eventually(t, "the saved set to lose p2", func() bool {
		saved, _ := LoadKnownProxies(dataDir)
		return len(saved) == 1 && saved[0].Addr == p1.addr
	})
}

func TestAgentRefusesProxiesItCannotVerify(t *testing.T) {
	ca := newTestCA(t)
	p1 := startFakeProxy(t, ca, "spiffe://c/host/p1", ca.issue(t, "spiffe://c/host/p1"))
	// Published as p2, but its certificate names another host.
	impostor := startFakeProxy(t, ca, "spiffe://c/host/p2", ca.issue(t, "spiffe://c/host/evil"))
	// A certificate from another authority.
	stranger := startFakeProxy(t, ca, "", newTestCA(t).issue(t, "spiffe://c/host/p3"))
	// A host of another cluster, from the same authority.
	foreign := startFakeProxy(t, ca, "", ca.issue(t, "spiffe://other/host/p4"))
	p1.tell(p1, impostor, stranger, foreign)
	tun, _ := runTunnels(t, ca, p1.addr)

	waitSignal(t, p1.registered, "the agent to register with the configured proxy")
	for _, p := range []*fakeProxy{impostor, stranger, foreign} {
		select {
		case <-p.refusedCh:
		case <-p.registered:
			t.Fatalf("the agent registered with %s, which it cannot verify", p.addr)
		case <-time.After(10 * time.Second):
			t.Fatalf("the agent never tried %s", p.addr)
		}
	}
	if got := tun.Remote.Proxies(); !slices.Equal(got, []string{p1.addr}) {
		t.Fatalf("tunnels up: %v, want only the verified proxy", got)
	}
}

func TestAgentStartsFromTheSavedSet(t *testing.T) {
	ca := newTestCA(t)
	p2 := startFakeProxy(t, ca, "spiffe://c/host/p2", ca.issue(t, "spiffe://c/host/p2"))
	p2.tell(p2)
	// The configured proxy does not answer: its port is closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	_ = ln.Close()

	dataDir := t.TempDir()
	if err := os.MkdirAll(identityDir(dataDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := SaveKnownProxies(dataDir, []KnownProxy{{Addr: down}, {Addr: p2.addr, HostID: p2.hostID}}); err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tun := &Tunnels{
		Seed: down, DataDir: dataDir, Registry: reg, Remote: &Remote{}, Logger: hclog.NewNullLogger(),
		Identity: NewCurrentIdentity(Identity{Cert: ca.issue(t, "spiffe://c/host/agent"), HostCAs: [][]byte{ca.cert.Raw}, Cluster: "c"}),
		Deliver:  func(_ context.Context, _ net.Conn, _ *pluginv1.Session, done func()) { done() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tun.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitSignal(t, p2.registered, "the agent to reach the saved proxy")
	// The configured proxy is still wanted, though p2 does not name it.
	eventually(t, "the configured proxy to stay wanted", func() bool {
		st := tun.Status()
		return len(st) == 2 && slices.ContainsFunc(st, func(s TunnelStatus) bool { return s.Proxy == down && !s.Up })
	})
}
