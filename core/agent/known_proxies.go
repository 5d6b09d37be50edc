package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/keyway-dev/keyway/core/authority"
)

// KnownProxy is a proxy of the cluster as an agent learnt it: from the
// WatchProxies stream, or from the file it saved the last set in.
type KnownProxy struct {
	// Addr is the proxy's public address, HOST:PORT.
	Addr string `json:"addr"`
	// HostID is the SPIFFE ID the proxy's host certificate must carry;
	// empty when unknown (the configured proxy_addr).
	HostID string `json:"host_id,omitempty"`
}

// knownProxiesFile is the last set of proxies an agent heard of, so that
// a restart while its configured proxy is down can reach another.
type knownProxiesFile struct {
	Proxies []KnownProxy `json:"proxies"`
	Updated time.Time    `json:"updated"`
}

// knownProxiesPath is where a joined agent keeps that set.
func knownProxiesPath(dataDir string) string {
	return filepath.Join(identityDir(dataDir), "proxies.json")
}

// LoadKnownProxies reads the saved set; none before the first one is
// saved.
func LoadKnownProxies(dataDir string) ([]KnownProxy, error) {
	path := knownProxiesPath(dataDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the known proxies: %w", err)
	}
	var f knownProxiesFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading the known proxies in %s: %w", path, err)
	}
	return normalizeProxies(f.Proxies), nil
}

// SaveKnownProxies replaces the saved set, atomically.
func SaveKnownProxies(dataDir string, set []KnownProxy) error {
	b, err := json.MarshalIndent(knownProxiesFile{Proxies: normalizeProxies(set), Updated: time.Now().UTC()}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the known proxies: %w", err)
	}
	if err := authority.WriteFile(knownProxiesPath(dataDir), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("saving the known proxies: %w", err)
	}
	return nil
}

// normalizeProxies drops entries without an address and duplicates, and
// sorts by address.
func normalizeProxies(set []KnownProxy) []KnownProxy {
	out := make([]KnownProxy, 0, len(set))
	for _, p := range set {
		if p.Addr != "" && !slices.ContainsFunc(out, func(q KnownProxy) bool { return q.Addr == p.Addr }) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}
