package proxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/tunnel"
)

// lockedBuffer is a log destination safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testProxy serves a proxy on a loopback port and returns it with its
// address, its metrics and its log.
func testProxy(t *testing.T, p *Proxy) (string, *metrics.InmemSink, *lockedBuffer) {
	t.Helper()
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	cfg := metrics.DefaultConfig("keyway")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
	m, err := metrics.New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	p.Logger, p.Metrics = hclog.New(&hclog.LoggerOptions{Output: logs}), m
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	t.Cleanup(func() {
		_ = ln.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), sink, logs
}

// dialFrom opens a TCP connection to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByServer reports whether the server closed c within d: a read
// ends with EOF or a reset, not with the read deadline.
func closedByServer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func counterSum(sink *metrics.InmemSink, key string) float64 {
	var sum float64
	for _, iv := range sink.Data() {
		if c, ok := iv.Counters[key]; ok {
			sum += c.Sum
		}
	}
	return sum
}

func TestUnauthenticatedConnectionsAreCappedPerAddressAndInTotal(t *testing.T) {
	p := &Proxy{HandshakeTimeout: time.Minute, Limits: Limits{Total: 4, PerAddress: 2}}
	addr, sink, logs := testProxy(t, p)

	// Two silent connections from one address are held in their
	// handshake; the third from it is closed at once.
	a1, a2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	waitFor(t, "two connections in their handshake", func() bool { return p.Unauthenticated() == 2 })
	if a3 := dialFrom(t, "127.0.0.1", addr); !closedByServer(a3, 5*time.Second) {
		t.Fatal("a third connection from one address was not closed")
	}
	// Another address has places of its own, up to the total.
	dialFrom(t, "127.0.0.2", addr)
	dialFrom(t, "127.0.0.2", addr)
	waitFor(t, "four connections in their handshake", func() bool { return p.Unauthenticated() == 4 })
	if c := dialFrom(t, "127.0.0.3", addr); !closedByServer(c, 5*time.Second) {
		t.Fatal("a connection over the total was not closed")
	}
	for _, c := range []net.Conn{a1, a2} {
		if closedByServer(c, 50*time.Millisecond) {
			t.Fatal("a connection within the caps was closed")
		}
	}

	// A client that leaves gives its place back.
	_ = a1.Close()
	waitFor(t, "the place to be given back", func() bool { return p.Unauthenticated() == 3 })
	dialFrom(t, "127.0.0.1", addr)
	waitFor(t, "the new connection to be held", func() bool { return p.Unauthenticated() == 4 })

	if n := counterSum(sink, "keyway.proxy.connections.refused;limit=per_address"); n != 1 {
		t.Fatalf("per-address refusals counted %v, want 1", n)
	}
	if n := counterSum(sink, "keyway.proxy.connections.refused;limit=total"); n != 1 {
		t.Fatalf("total refusals counted %v, want 1", n)
	}
	// Refusals are logged, but not each one.
	if n := strings.Count(logs.String(), "closing connections over the cap"); n != 1 {
		t.Fatalf("refusals logged %d times, want once in the interval:\n%s", n, logs.String())
	}
}

func TestSilentConnectionsAreClosedAtTheHandshakeTimeout(t *testing.T) {
	p := &Proxy{HandshakeTimeout: 200 * time.Millisecond, Limits: Limits{Total: 10, PerAddress: 10}}
	addr, _, _ := testProxy(t, p)
	start := time.Now()
	c := dialFrom(t, "127.0.0.1", addr)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	took := time.Since(start)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read from a silent connection: %v, want EOF at the handshake timeout", err)
	}
	if took < 150*time.Millisecond {
		t.Fatalf("closed after %s, before the handshake timeout", took)
	}
	waitFor(t, "its place to be given back", func() bool { return p.Unauthenticated() == 0 })
}

// selfSigned is a throwaway server certificate.
func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestServeReturnsWhileATunnelRunsOn(t *testing.T) {
	cert := selfSigned(t)
	inTunnel, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	p := &Proxy{
		HandshakeTimeout: 5 * time.Second, Limits: Limits{Total: 10, PerAddress: 10},
		Certificate: func() *tls.Certificate { return cert },
		// An agent's tunnel lasts as long as the agent does.
		Tunnel: func(c *tls.Conn) { close(inTunnel); <-release; _ = c.Close() },
	}
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	m, err := metrics.New(metrics.DefaultConfig("keyway"), sink)
	if err != nil {
		t.Fatal(err)
	}
	p.Logger, p.Metrics = hclog.NewNullLogger(), m
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{tunnel.ALPNTunnel}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	<-inTunnel
	if n := p.Unauthenticated(); n != 0 {
		t.Fatalf("a tunnel handed over still counts as unauthenticated (%d)", n)
	}
	_ = ln.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve waited for a tunnel handler after its listener closed")
	}
	// The tunnel itself is untouched.
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, io.EOF) || !os.IsTimeout(err) {
		t.Fatalf("the tunnel ended with the listener: %v", err)
	}
}
