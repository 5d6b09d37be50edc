// Package discovery lets the cluster's proxies find each other's public
// addresses through the state backend, so that agents can keep a tunnel
// to every proxy.
//
// Each proxy publishes a record under "proxies/" with a TTL and renews it
// (Publisher); a proxy that dies stops renewing and its record expires.
// Every proxy keeps one watch on that prefix (Directory) and tells its
// agents the current set when it changes. On etcd a TTL is a lease, so
// the record of a killed proxy disappears from every member when the
// lease runs out; the embedded backend serves one process, whose record
// is the only one.
package discovery

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// keyPrefix holds one record per proxy, keyed by its public address.
const keyPrefix = "proxies/"

// Proxy is one proxy as it publishes itself.
type Proxy struct {
	// Addr is the public address, HOST:PORT, that clients and agents
	// dial; its host is in the proxy's certificate.
	Addr string `json:"addr"`
	// HostID is the SPIFFE ID of the proxy's host certificate.
	HostID string `json:"host_id"`
	// Version is the keyway version the proxy runs.
	Version string `json:"version,omitempty"`
	// Problem is why the proxy cannot take new sessions, as it last
	// reported; empty while it can.
	Problem string `json:"problem,omitempty"`
	// Remote marks a proxy without the auth role, which the auth
	// service publishes for as long as the proxy announces itself.
	Remote bool `json:"remote,omitempty"`
}

// key is where p's record lives. Proxies behind one address share it.
func (p Proxy) key() string { return keyPrefix + url.PathEscape(p.Addr) }

func (p Proxy) encode() ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding the record of proxy %s: %w", p.Addr, err)
	}
	return b, nil
}

func decode(key string, b []byte) (Proxy, error) {
	var p Proxy
	if err := json.Unmarshal(b, &p); err != nil {
		return Proxy{}, fmt.Errorf("decoding the proxy record %s: %w", key, err)
	}
	if p.Addr == "" {
		return Proxy{}, fmt.Errorf("the proxy record %s has no address", key)
	}
	return p, nil
}

// sorted returns the records of m by address.
func sorted(m map[string]Proxy) []Proxy {
	out := make([]Proxy, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// equal reports whether two sorted sets name the same proxies.
func equal(a, b []Proxy) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Addr != b[i].Addr || a[i].HostID != b[i].HostID {
			return false
		}
	}
	return true
}

// Addrs returns the addresses of a set.
func Addrs(set []Proxy) []string {
	out := make([]string, len(set))
	for i, p := range set {
		out[i] = p.Addr
	}
	return out
}

// isProxyKey reports whether a state key is a proxy record.
func isProxyKey(key string) bool { return strings.HasPrefix(key, keyPrefix) }
