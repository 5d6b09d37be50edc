package e2e

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
)

// TestForgedAgentIsRefused presents a host certificate from another
// cluster's host authority on the tunnel protocol: the proxy refuses it.
func TestForgedAgentIsRefused(t *testing.T) {
	a := startAllInOne(t)
	foreign := newCluster(t, "")
	cert, err := authority.SignHost(context.Background(), caPlugin(t, foreign), authority.HostRequest{Cluster: "e2e", Name: "mallory", TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", a.proxy, &tls.Config{
		Certificates: []tls.Certificate{cert}, NextProtos: []string{tunnel.ALPNTunnel},
		InsecureSkipVerify: true, // this test is about the proxy's check of the agent
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the proxy kept a tunnel with a forged host certificate open")
	}
	waitFor(t, 5*time.Second, "the refusal in the log", func() bool {
		return strings.Contains(a.node.logs(), "refusing a tunnel")
	})
}
