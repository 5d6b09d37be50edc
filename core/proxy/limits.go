package proxy

import (
	"net"
	"net/netip"
	"sync"
)

// Limits caps the connections that have not yet proved who they are:
// accepted, but not yet past the handshake and handed over. A client
// must spend a descriptor per connection it holds open, so without a cap
// one silent client can take every descriptor the process has.
type Limits struct {
	// Total caps them across all clients; zero means no cap.
	Total int
	// PerAddress caps them per source IP address; zero means no cap.
	PerAddress int
}

// Why a connection was refused, as a metric label.
const (
	overTotal      = "total"
	overPerAddress = "per_address"
)

// admission counts the connections in their handshake, in total and by
// source address.
type admission struct {
	limits Limits

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
}

func newAdmission(l Limits) *admission {
	return &admission{limits: l, byAddr: make(map[netip.Addr]int)}
}

// admit takes a place for a connection from addr. It returns the
// function that gives the place back (safe to call more than once), or
// why there is none.
func (a *admission) admit(addr net.Addr) (release func(), refused string) {
	ip := sourceIP(addr)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.limits.Total > 0 && a.total >= a.limits.Total:
		return nil, overTotal
	case a.limits.PerAddress > 0 && a.byAddr[ip] >= a.limits.PerAddress:
		return nil, overPerAddress
	}
	a.total++
	a.byAddr[ip]++
	var once sync.Once
	return func() { once.Do(func() { a.leave(ip) }) }, ""
}

func (a *admission) leave(ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.byAddr[ip]--; a.byAddr[ip] <= 0 {
		delete(a.byAddr, ip)
	}
}

// count returns the connections in their handshake.
func (a *admission) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// sourceIP is the address a client connects from, with IPv4 in IPv6
// unwrapped so that both spellings of one address share a count. An
// address that is not TCP or UDP counts as the zero address.
func sourceIP(addr net.Addr) netip.Addr {
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
