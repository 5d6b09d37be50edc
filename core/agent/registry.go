// Package agent is the database agent role: the databases this process
// serves, how to trust their servers, and the certificates it presents
// to them.
package agent

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// AuthorityPEM returns an authority's trusted certificates as PEM: the
// cluster's db authority for server trust.
type AuthorityPEM interface {
	PEM(ctx context.Context, a sdk.Authority) ([]byte, error)
}

// Registry holds the databases an agent serves.
type Registry struct {
	clusterCAs AuthorityPEM

	mu  sync.RWMutex
	dbs map[string]entry
}

type entry struct {
	db sdk.Database
	// customCA is the content of ca_cert_file, read at load.
	customCA []byte
}

// NewRegistry loads the configured databases. A ca_cert_file that cannot
// be read is an error naming the file.
func NewRegistry(dbs []config.Database, clusterCAs AuthorityPEM) (*Registry, error) {
	r := &Registry{clusterCAs: clusterCAs, dbs: map[string]entry{}}
	for _, d := range dbs {
		e := entry{db: sdk.Database{
			Name: d.Name, Description: d.Description, Protocol: d.Protocol, URI: d.URI, Labels: d.Labels,
			Trust: sdk.ServerTrust{Mode: d.Mode, SystemPool: d.TrustSystemCertPool, ServerName: d.ServerName},
		}}
		if d.CACertFile != "" {
			b, err := os.ReadFile(d.CACertFile)
			if err != nil {
				return nil, fmt.Errorf("database %s: reading ca_cert_file: %w", d.Name, err)
			}
			e.customCA = b
		}
		r.dbs[d.Name] = e
	}
	return r, nil
}

// Get returns a database with its server trust resolved: the custom CA
// file, the system pool, or the cluster's current db authority.
func (r *Registry) Get(ctx context.Context, name string) (sdk.Database, bool, error) {
	r.mu.RLock()
	e, ok := r.dbs[name]
	r.mu.RUnlock()
	if !ok {
		return sdk.Database{}, false, nil
	}
	db := e.db
	switch {
	case e.customCA != nil:
		db.Trust.CAPEM = e.customCA
	case db.Trust.SystemPool:
	default:
		pem, err := r.clusterCAs.PEM(ctx, sdk.AuthorityDB)
		if err != nil {
			return sdk.Database{}, true, fmt.Errorf("reading the cluster's db authority: %w", err)
		}
		db.Trust.CAPEM = pem
	}
	return db, true, nil
}

// List returns the databases sorted by name, without trust material.
func (r *Registry) List() []sdk.Database {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]sdk.Database, 0, len(r.dbs))
	for _, e := range r.dbs {
		out = append(out, e.db)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DatabaseToProto encodes a database for a plugin's Session.
func DatabaseToProto(db sdk.Database) *pluginv1.Database {
	return &pluginv1.Database{
		Name: db.Name, Protocol: db.Protocol, Uri: db.URI, Labels: db.Labels,
		Trust: &pluginv1.ServerTrust{Mode: db.Trust.Mode, CaPem: db.Trust.CAPEM, SystemPool: db.Trust.SystemPool, ServerName: db.Trust.ServerName},
	}
}
