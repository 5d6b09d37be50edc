package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/state/embedded"
	"github.com/keyway-dev/keyway/sdk"
)

// testAuthorities is an authority.CA holding a host and a user
// authority in memory, which signs test certificates directly.
type testAuthorities struct {
	host, user *x509.Certificate
	hostKey    *ecdsa.PrivateKey
	userKey    *ecdsa.PrivateKey
}

func newTestAuthorities(t *testing.T) *testAuthorities {
	t.Helper()
	a := &testAuthorities{}
	a.host, a.hostKey = selfSigned(t, "host CA")
	a.user, a.userKey = selfSigned(t, "user CA")
	return a
}

func selfSigned(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// leaf signs a certificate for the SPIFFE ID spiffe://example/PATH.
func (a *testAuthorities) leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, path string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse("spiffe://example/" + path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: path},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), URIs: []*url.URL{u},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (a *testAuthorities) Authorities(context.Context) ([]sdk.AuthorityState, error) {
	return []sdk.AuthorityState{
		{Authority: sdk.AuthorityHost, Certificates: [][]byte{a.host.Raw}},
		{Authority: sdk.AuthorityUser, Certificates: [][]byte{a.user.Raw}},
	}, nil
}

func (a *testAuthorities) Sign(context.Context, sdk.SignRequest) (sdk.SignResponse, error) {
	return sdk.SignResponse{}, errors.New("not in this test")
}

func (a *testAuthorities) Rotate(context.Context, sdk.RotateRequest) (sdk.AuthorityState, error) {
	return sdk.AuthorityState{}, errors.New("not in this test")
}

// joinHost joins a host with a fresh token of typ.
func joinHost(t *testing.T, svc *auth.Service, typ, name string) {
	t.Helper()
	grant := auth.DBGrant{}
	if typ == auth.TokenDB {
		grant.Names = []string{"*"}
	}
	tok, _, err := svc.AddToken(t.Context(), typ, grant, time.Hour, "sha256:"+strings.Repeat("0", 64), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := auth.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.JoinHost(t.Context(), secret, name, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// callFrom is a call's context from a peer presenting certs, with
// incoming metadata kv.
func callFrom(certs []*x509.Certificate, kv ...string) context.Context {
	p := &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4000}, AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: certs}}}
	return metadata.NewIncomingContext(peer.NewContext(context.Background(), p), metadata.Pairs(kv...))
}

// TestForwardedCallsRunAsTheirClient checks that only a host that joined
// as a proxy may name the client of a call, and that the call then runs
// with the client's address and certificate chain as its peer.
func TestForwardedCallsRunAsTheirClient(t *testing.T) {
	b, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	svc := &auth.Service{State: b}
	joinHost(t, svc, auth.TokenProxy, "proxy-1")
	joinHost(t, svc, auth.TokenDB, "agent-1")
	cas := newTestAuthorities(t)
	s := &Server{Cluster: "example", Auth: svc, Trust: access.NewTrust(cas, time.Minute)}

	proxyCert := cas.leaf(t, cas.host, cas.hostKey, "host/proxy-1")
	agentCert := cas.leaf(t, cas.host, cas.hostKey, "host/agent-1")
	aliceCert := cas.leaf(t, cas.user, cas.userKey, "user/alice")
	forged := cas.leaf(t, cas.user, cas.userKey, "host/proxy-1")
	forward := []string{MDClientAddr, "192.0.2.7:5555", MDClientChain, string(aliceCert.Raw)}

	for _, tt := range []struct {
		name     string
		ctx      context.Context
		code     codes.Code
		wantAddr string
		wantLeaf *x509.Certificate
	}{
		{name: "a proxy names alice", ctx: callFrom([]*x509.Certificate{proxyCert}, forward...), wantAddr: "192.0.2.7:5555", wantLeaf: aliceCert},
		{name: "a proxy names a client without a certificate", ctx: callFrom([]*x509.Certificate{proxyCert}, MDClientAddr, "192.0.2.8:1"), wantAddr: "192.0.2.8:1"},
		{name: "an agent may not name a client", ctx: callFrom([]*x509.Certificate{agentCert}, forward...), code: codes.PermissionDenied},
		{name: "a user may not name a client", ctx: callFrom([]*x509.Certificate{aliceCert}, forward...), code: codes.PermissionDenied},
		{name: "a proxy's name signed by the user authority", ctx: callFrom([]*x509.Certificate{forged}, forward...), code: codes.PermissionDenied},
		{name: "a call that names no client is the caller's", ctx: callFrom([]*x509.Certificate{aliceCert}), wantAddr: "10.0.0.9:4000", wantLeaf: aliceCert},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := s.forwarded(tt.ctx)
			if status.Code(err) != tt.code {
				t.Fatalf("forwarded: %v, want %s", err, tt.code)
			}
			if err != nil {
				return
			}
			p, _ := peer.FromContext(ctx)
			if p.Addr.String() != tt.wantAddr {
				t.Fatalf("the call's address is %s, want %s", p.Addr, tt.wantAddr)
			}
			chain, err := peerChain(ctx)
			if tt.wantLeaf == nil {
				if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("a client without a certificate has the chain %d certificates long (%v)", len(chain), err)
				}
				return
			}
			if err != nil || len(chain) != 1 || string(chain[0]) != string(tt.wantLeaf.Raw) {
				t.Fatalf("the call's chain is %d certificates long (%v), want the client's", len(chain), err)
			}
		})
	}
	if _, _, err := s.proxyCaller(callFrom([]*x509.Certificate{agentCert})); status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "did not join as a proxy") {
		t.Fatalf("an agent calling as a proxy: %v", err)
	}
	if name, _, err := s.proxyCaller(callFrom([]*x509.Certificate{proxyCert})); err != nil || name != "proxy-1" {
		t.Fatalf("the proxy calling: %q, %v", name, err)
	}
}
