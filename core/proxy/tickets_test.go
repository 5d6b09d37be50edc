package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/tunnel"
)

// countingCache is a client session cache that counts the tickets it is
// given.
type countingCache struct {
	tls.ClientSessionCache
	put atomic.Int32
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	c.put.Add(1)
	c.ClientSessionCache.Put(key, cs)
}

// TestProxyMakesNoSessionTickets checks that a client ready to resume
// gets no ticket: none is encrypted and sent per connection.
func TestProxyMakesNoSessionTickets(t *testing.T) {
	for _, tt := range []struct {
		name         string
		allowTickets bool
		want         bool
	}{
		{"the proxy's configuration", false, false},
		{"tickets allowed, the check itself", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cert := selfSigned(t)
			cfg := (&Proxy{Certificate: func() *tls.Certificate { return cert }}).serverTLS(nil)
			if tt.allowTickets {
				cfg.SessionTicketsDisabled = false
			}
			roots := x509.NewCertPool()
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			roots.AddCert(leaf)
			cache := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			server := tls.Server(a, cfg)
			go func() {
				if server.Handshake() == nil {
					_, _ = server.Write([]byte("x"))
				}
			}()
			client := tls.Client(b, &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: cache})
			var buf [1]byte
			if _, err := client.Read(buf[:]); err != nil {
				t.Fatal(err)
			}
			if got := cache.put.Load() > 0; got != tt.want {
				t.Fatalf("ticket received = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDataConnectionsResume checks that on the keyway port an agent's
// data connections, and they alone, get tickets and resume, and that a
// resumed connection still carries the agent's chain for the proxy to
// check.
func TestDataConnectionsResume(t *testing.T) {
	cert, agent := selfSigned(t), selfSigned(t)
	chains := make(chan [][]byte, 1)
	p := &Proxy{
		HandshakeTimeout: 5 * time.Second, Logger: hclog.NewNullLogger(),
		Certificate: func() *tls.Certificate { return cert },
		Data: func(c *tls.Conn) {
			var chain [][]byte
			for _, pc := range c.ConnectionState().PeerCertificates {
				chain = append(chain, pc.Raw)
			}
			chains <- chain
			_, _ = c.Write([]byte("h"))
			_ = c.Close()
		},
		API: func(c *tls.Conn) { _, _ = c.Write([]byte("h")); _ = c.Close() },
	}
	roots := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(leaf)
	dial := func(alpn string, cache tls.ClientSessionCache) (resumed bool) {
		t.Helper()
		a, b := net.Pipe()
		defer b.Close()
		go p.serveKeywayTLS(a, func() {})
		c := tls.Client(b, &tls.Config{
			RootCAs: roots, ServerName: "localhost", NextProtos: []string{alpn},
			Certificates: []tls.Certificate{*agent}, ClientSessionCache: cache,
		})
		var buf [1]byte
		if _, err := c.Read(buf[:]); err != nil {
			t.Fatalf("%s: %v", alpn, err)
		}
		return c.ConnectionState().DidResume
	}
	data := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i, want := range []bool{false, true, true} {
		if got := dial(tunnel.ALPNData, data); got != want {
			t.Fatalf("data connection %d resumed = %v, want %v", i+1, got, want)
		}
		if chain := <-chains; len(chain) != 1 || !bytes.Equal(chain[0], agent.Certificate[0]) {
			t.Fatalf("data connection %d: the proxy saw chain %x, want the agent's", i+1, chain)
		}
	}
	api := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for range 2 {
		if dial(tunnel.ALPNAPI, api) {
			t.Fatal("an API connection resumed")
		}
	}
	if n := api.put.Load(); n != 0 {
		t.Fatalf("an API client got %d tickets, want none", n)
	}
}
