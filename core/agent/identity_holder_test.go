package agent

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/keyway-dev/keyway/core/tunnel"
)

func TestCurrentIdentityIsReadAtEachDial(t *testing.T) {
	oldCA, newCA := newTestCA(t), newTestCA(t)
	oldCert := oldCA.issue(t, "spiffe://c/host/agent")
	holder := NewCurrentIdentity(Identity{Cert: oldCert, HostCAs: [][]byte{oldCA.cert.Raw}, Cluster: "c"})
	c := &TunnelClient{ProxyAddr: "127.0.0.1:1", Identity: holder}

	before, err := c.tlsConfig(tunnel.ALPNTunnel)
	if err != nil {
		t.Fatal(err)
	}
	newCert := newCA.issue(t, "spiffe://c/host/agent")
	holder.Set(Identity{Cert: newCert, HostCAs: [][]byte{oldCA.cert.Raw, newCA.cert.Raw}, Cluster: "c"})

	// The certificate is read at the handshake, even by a config built
	// before the renewal.
	got, err := before.GetClientCertificate(&tls.CertificateRequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Certificate[0], newCert.Certificate[0]) {
		t.Fatal("the handshake presents the old certificate")
	}
	// The host authorities are read at each dial.
	after, err := c.tlsConfig(tunnel.ALPNTunnel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newCA.cert.Verify(verifyWith(after)); err != nil {
		t.Fatalf("the new host authority is not trusted after renewal: %v", err)
	}
	if _, err := newCA.cert.Verify(verifyWith(before)); err == nil {
		t.Fatal("a config built before the renewal trusts the new host authority")
	}
}

func TestCurrentIdentityConcurrentUse(t *testing.T) {
	ca := newTestCA(t)
	certs := []tls.Certificate{ca.issue(t, "spiffe://c/host/a"), ca.issue(t, "spiffe://c/host/a")}
	holder := NewCurrentIdentity(Identity{Cert: certs[0], HostCAs: [][]byte{ca.cert.Raw}, Cluster: "c"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				if i%2 == 0 {
					holder.Set(Identity{Cert: certs[j%2], HostCAs: [][]byte{ca.cert.Raw}, Cluster: "c"})
					continue
				}
				got, err := holder.Certificate(nil)
				if err != nil || len(got.Certificate) != 1 {
					t.Errorf("certificate %v, %v", got, err)
					return
				}
				if _, err := holder.HostPool(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if id := holder.Get(); id.Cluster != "c" {
		t.Fatalf("identity %+v", id)
	}
}

// verifyWith verifies against a TLS config's roots, as a dial would.
func verifyWith(cfg *tls.Config) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: cfg.RootCAs}
}
