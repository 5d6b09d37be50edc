package sdk

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

// offeredCache records whether the last handshake found a session to
// offer.
type offeredCache struct {
	tls.ClientSessionCache
	offered bool
}

func (c *offeredCache) Get(key string) (*tls.ClientSessionState, bool) {
	cs, ok := c.ClientSessionCache.Get(key)
	c.offered = c.offered || (ok && cs != nil)
	return cs, ok
}

// TestDataConnectionsResumeAndCheckTheProxyAgain checks that a data
// connection resumes the TLS session of the one before it, and that a
// resumed session is checked against the authorities of the credentials
// dialling, as a full handshake is.
func TestDataConnectionsResumeAndCheckTheProxyAgain(t *testing.T) {
	caPEM, server := testCA(t, "proxy.internal")
	otherPEM, _ := testCA(t, "proxy.internal")
	// The ticket reaches the client with the first byte.
	addr := serveTLSWith(t, &tls.Config{Certificates: []tls.Certificate{server}, NextProtos: []string{"keyway-data"}},
		func(c net.Conn) { _, _ = c.Write([]byte("h")) })
	pool := func(pemBytes []byte) *x509.CertPool {
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(pemBytes)
		return p
	}
	sessions := &offeredCache{ClientSessionCache: tls.NewLRUClientSessionCache(dataSessionCacheSize)}
	trusted := &dataCreds{cert: &tls.Certificate{}, roots: pool(caPEM), sessions: sessions}
	// The same sessions with authorities that no longer take the proxy.
	rotated := &dataCreds{cert: &tls.Certificate{}, roots: pool(otherPEM), sessions: trusted.sessions}
	s := &protocolServer{}
	dial := func(creds *dataCreds, name string) (resumed bool, err error) {
		sessions.offered = false
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, s.dataClientConfig(creds, name, "keyway-data"))
		if err != nil {
			return false, err
		}
		defer c.Close()
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			return false, err
		}
		return c.ConnectionState().DidResume, nil
	}
	steps := []struct {
		name        string
		creds       *dataCreds
		wantOffered bool // a session was offered to resume
		wantResumed bool
		wantErr     string
	}{
		{"the first connection", trusted, false, false, ""},
		{"the next one resumes", trusted, true, true, ""},
		{"a session offered with authorities that no longer take the proxy", rotated, true, false, "unknown authority"},
		{"the first authorities again", trusted, false, false, ""},
		{"and resume", trusted, true, true, ""},
	}
	for _, st := range steps {
		resumed, err := dial(st.creds, "proxy.internal")
		switch {
		case sessions.offered != st.wantOffered:
			t.Fatalf("%s: a session offered = %v, want %v", st.name, sessions.offered, st.wantOffered)
		case st.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("%s: err = %v, want one naming %q", st.name, err, st.wantErr)
			}
		case err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case resumed != st.wantResumed:
			t.Fatalf("%s: resumed = %v, want %v", st.name, resumed, st.wantResumed)
		}
	}
}
