package client

import (
	"net"
	"slices"
	"strings"
	"testing"
)

func TestAddressesPutTheLoginProxyFirst(t *testing.T) {
	p := &Profile{Proxy: "b:3080", Proxies: []string{"a:3080", "b:3080", "", "c:3080"}}
	if got := p.Addresses(); !slices.Equal(got, []string{"b:3080", "a:3080", "c:3080"}) {
		t.Fatalf("addresses %v", got)
	}
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestDialFallsBackWhenTheProxyRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	down := closedAddr(t)
	p := &Profile{Proxy: down, Proxies: []string{down, ln.Addr().String()}}
	c, addr, err := p.DialTCP(t.Context())
	if err != nil {
		t.Fatalf("with one proxy up: %v", err)
	}
	_ = c.Close()
	if addr != ln.Addr().String() {
		t.Fatalf("reached %s, want the proxy that listens", addr)
	}

	p = &Profile{Proxy: down, Proxies: []string{closedAddr(t)}}
	_, _, err = p.DialTCP(t.Context())
	if err == nil || !strings.Contains(err.Error(), "no proxy of the cluster accepts connections") || !strings.Contains(err.Error(), down) {
		t.Fatalf("with every proxy down: %v", err)
	}
}
