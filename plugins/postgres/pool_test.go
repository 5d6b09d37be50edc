package postgres

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// selfSigned returns a certificate for name, signed by its own key.
func selfSigned(t testing.TB, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{name}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsPair returns a TLS client connection and the raw server side of
// the same loopback connection, handshake done.
func tlsPair(t testing.TB) (*tls.Conn, *tls.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	server := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{selfSigned(t, "pool")}})
	client := tls.Client(a, &tls.Config{InsecureSkipVerify: true})
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return client, server
}

// closedByPeer reports whether the server side reads EOF within d.
func closedByPeer(c *tls.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF || (err != nil && !isTimeout(err))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestServerPool(t *testing.T) {
	settings := sdk.DatabasePool{Mode: sdk.PoolModeSession, MaxIdle: 1, IdleTimeout: time.Minute}
	key := poolKey{db: "app", dbUser: "u", dbName: "d"}

	t.Run("a kept connection is handed out once, still usable", func(t *testing.T) {
		p := newServerPool()
		c, peer := tlsPair(t)
		p.put(key, &serverConn{conn: c}, settings)
		if p.get(poolKey{db: "app", dbUser: "other", dbName: "d"}) != nil {
			t.Fatal("another database user got the connection")
		}
		got := p.get(key)
		if got == nil || got.conn != c {
			t.Fatal("the kept connection was not handed out")
		}
		if p.get(key) != nil {
			t.Fatal("one connection was handed out twice")
		}
		go func() { _, _ = peer.Write([]byte("Z")) }()
		b := make([]byte, 1)
		if _, err := io.ReadFull(got.conn, b); err != nil || b[0] != 'Z' {
			t.Fatalf("the handed-out connection reads %q, %v", b, err)
		}
	})
	t.Run("max_idle closes the extra connection", func(t *testing.T) {
		p := newServerPool()
		c1, _ := tlsPair(t)
		c2, peer2 := tlsPair(t)
		p.put(key, &serverConn{conn: c1}, settings)
		p.put(key, &serverConn{conn: c2}, settings)
		if !closedByPeer(peer2, 5*time.Second) {
			t.Fatal("a connection beyond max_idle stayed open")
		}
		if got := p.get(key); got == nil || got.conn != c1 {
			t.Fatal("the first connection was not kept")
		}
	})
	t.Run("idle_timeout closes a connection", func(t *testing.T) {
		p := newServerPool()
		c, peer := tlsPair(t)
		p.put(key, &serverConn{conn: c}, sdk.DatabasePool{Mode: sdk.PoolModeSession, MaxIdle: 1, IdleTimeout: 50 * time.Millisecond})
		if !closedByPeer(peer, 5*time.Second) {
			t.Fatal("the idle connection outlived idle_timeout")
		}
		if p.get(key) != nil {
			t.Fatal("an expired connection was handed out")
		}
	})
	t.Run("a connection the server writes to leaves the pool", func(t *testing.T) {
		p := newServerPool()
		c, peer := tlsPair(t)
		p.put(key, &serverConn{conn: c}, settings)
		if _, err := peer.Write([]byte("E")); err != nil {
			t.Fatal(err)
		}
		if !closedByPeer(peer, 5*time.Second) {
			t.Fatal("the connection stayed pooled after the server wrote to it")
		}
		if p.get(key) != nil {
			t.Fatal("a connection the server wrote to was handed out")
		}
	})
}
