package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync/atomic"
	"testing"
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
