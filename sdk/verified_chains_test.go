package sdk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dialTrust dials addr with the configuration cache gives for trust.
func dialTrust(cache *TrustCache, trust ServerTrust, addr string) error {
	cfg, err := cache.ClientConfig(trust, addr, tls.Certificate{})
	if err != nil {
		return err
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	return c.Close()
}

func (v *verifiedChains) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.m)
}

func TestRememberedChainsStillCheckTheServer(t *testing.T) {
	caPEM, server := testCA(t, "db.internal")
	otherPEM, _ := testCA(t, "db.internal")
	addr := serveTLS(t, server)
	// The same chain served with a key the leaf does not name.
	foreignKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	impostor := serveTLS(t, tls.Certificate{Certificate: server.Certificate, PrivateKey: foreignKey})

	var cache TrustCache
	good := ServerTrust{CAPEM: caPEM, ServerName: "db.internal"}
	for i := range 2 {
		if err := dialTrust(&cache, good, addr); err != nil {
			t.Fatalf("dial %d refused: %v", i+1, err)
		}
	}
	if n := cache.chains.len(); n != 1 {
		t.Fatalf("%d chains remembered after two dials of one server, want 1", n)
	}
	tests := []struct {
		name  string
		trust ServerTrust
		addr  string
		want  string
	}{
		{"another name than the remembered one", ServerTrust{CAPEM: caPEM}, addr, "127.0.0.1"},
		{"another CA than the remembered one", ServerTrust{CAPEM: otherPEM, ServerName: "db.internal"}, addr, "unknown authority"},
		{"verify-ca with another CA", ServerTrust{CAPEM: otherPEM, Mode: VerifyCA}, addr, "unknown authority"},
		{"the remembered chain without its key", good, impostor, "invalid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dialTrust(&cache, tt.trust, tt.addr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
	if n := cache.chains.len(); n != 1 {
		t.Fatalf("%d chains remembered after refusals, want still 1", n)
	}
}

func TestVerifiedChainsHoldWithinTheirPoolAndTime(t *testing.T) {
	caPEM, server := testCA(t, "db.internal")
	otherPEM, _ := testCA(t, "db.internal")
	pool, other := x509.NewCertPool(), x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	other.AppendCertsFromPEM(otherPEM)
	leaf, err := x509.ParseCertificate(server.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	certs := []*x509.Certificate{leaf}
	now := time.Now()

	var v verifiedChains
	if err := v.verify(certs, pool, "db.internal", now); err != nil {
		t.Fatalf("first check: %v", err)
	}
	tests := []struct {
		name  string
		roots *x509.CertPool
		at    time.Time
		ok    bool
	}{
		{"the same pool within the window", pool, now.Add(time.Minute), true},
		{"a pool the chain was not checked against", other, now, false},
		{"after the leaf expires", pool, leaf.NotAfter.Add(time.Second), false},
		{"before the leaf is valid", pool, leaf.NotBefore.Add(-time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.verify(certs, tt.roots, "db.internal", tt.at)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if err := v.verify(nil, pool, "db.internal", now); err == nil {
		t.Fatal("an empty chain verified")
	}
}

func TestVerifiedChainsAreBounded(t *testing.T) {
	var v verifiedChains
	now := time.Now()
	expired := chainWindow{notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour)}
	live := chainWindow{notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)}
	key := func(i int) chainDigest { return digestOf(strconv.Itoa(i), nil) }
	for i := range maxVerifiedChains {
		w := live
		if i%2 == 0 {
			w = expired
		}
		v.remember(key(i), w, now)
	}
	if n := v.len(); n != maxVerifiedChains {
		t.Fatalf("%d chains kept, want %d", n, maxVerifiedChains)
	}
	v.remember(key(maxVerifiedChains), live, now)
	if n, want := v.len(), maxVerifiedChains/2+1; n != want {
		t.Fatalf("%d chains kept after a full map took one more, want the %d unexpired", n, want)
	}
	for i := range maxVerifiedChains {
		if i%2 == 0 {
			continue
		}
		if !v.recall(key(i), nil, now) {
			t.Fatalf("live chain %d was dropped while expired ones could go", i)
		}
	}
	for i := range maxVerifiedChains + 10 {
		v.remember(digestOf("more", []*x509.Certificate{{Raw: []byte{byte(i), byte(i >> 8)}}}), live, now)
	}
	if n := v.len(); n > maxVerifiedChains {
		t.Fatalf("%d chains kept, bound is %d", n, maxVerifiedChains)
	}
}

// BenchmarkVerifiedChains compares a server chain's first check with the
// checks that find it remembered.
func BenchmarkVerifiedChains(b *testing.B) {
	caPEM, server := testCA(b, "db.internal")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	leaf, err := x509.ParseCertificate(server.Certificate[0])
	if err != nil {
		b.Fatal(err)
	}
	certs := []*x509.Certificate{leaf}
	b.Run("verified", func(b *testing.B) {
		for b.Loop() {
			var v verifiedChains
			if err := v.verify(certs, pool, "db.internal", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		var v verifiedChains
		for b.Loop() {
			if err := v.verify(certs, pool, "db.internal", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
