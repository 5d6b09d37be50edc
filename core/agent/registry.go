// Package agent is the database agent role: the databases this process
// serves, how to trust their servers, and the certificates it presents
// to them.
package agent

import (
	"context"
	"fmt"
	"os"
	"reflect"
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

// Registry holds the databases an agent serves: those of its
// configuration (static) and the db resources it selected (dynamic), with
// the result of each one's last health check.
type Registry struct {
	clusterCAs AuthorityPEM

	mu  sync.RWMutex
	dbs map[string]entry
	// unhealthy holds why each database failed its last check.
	unhealthy map[string]string
	// subs are notified of every change to the set or its health.
	subs map[chan struct{}]struct{}
}

type entry struct {
	db sdk.Database
	// customCA is the content of ca_cert_file: read at load for a
	// database block, carried by a db resource.
	customCA []byte
	// dynamic marks a db resource.
	dynamic bool
}

// NewRegistry loads the configured databases. A ca_cert_file that cannot
// be read is an error naming the file.
func NewRegistry(dbs []config.Database, clusterCAs AuthorityPEM) (*Registry, error) {
	r := &Registry{clusterCAs: clusterCAs, dbs: map[string]entry{}, unhealthy: map[string]string{}, subs: map[chan struct{}]struct{}{}}
	for _, d := range dbs {
		e, err := newEntry(d)
		if err != nil {
			return nil, err
		}
		r.dbs[d.Name] = e
	}
	return r, nil
}

// newEntry turns a definition into an entry, reading its CA file unless
// the definition carries the CA's content.
func newEntry(d config.Database) (entry, error) {
	e := entry{db: Describe(d)}
	switch {
	case d.CACertPEM != "":
		e.customCA = []byte(d.CACertPEM)
	case d.CACertFile != "":
		b, err := os.ReadFile(d.CACertFile)
		if err != nil {
			return entry{}, fmt.Errorf("database %s: reading ca_cert_file: %w", d.Name, err)
		}
		e.customCA = b
	}
	return e, nil
}

// Describe is a definition as plugins and the proxy see a database,
// without the CA's content.
func Describe(d config.Database) sdk.Database {
	return sdk.Database{
		Name: d.Name, Description: d.Description, Protocol: d.Protocol, URI: d.URI, Labels: d.Labels,
		Trust: sdk.ServerTrust{Mode: d.Mode, SystemPool: d.TrustSystemCertPool, ServerName: d.ServerName},
		Pool:  d.Pool.Settings(),
	}
}

// IsStatic reports whether the agent's configuration defines the
// database.
func (r *Registry) IsStatic(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.dbs[name]
	return ok && !e.dynamic
}

// ReplaceDynamic makes dbs the db resources the agent serves and returns
// the names it starts and stops serving. A definition whose name is a
// configured database's is skipped: the configuration wins. A replaced
// definition keeps its last health until the next check. A db resource's
// CA travels with it; no file is read here.
func (r *Registry) ReplaceDynamic(dbs []config.Database) (added, removed []string) {
	next := map[string]entry{}
	for _, d := range dbs {
		d.CACertFile = ""
		e, _ := newEntry(d) // reads no file, so it cannot fail
		e.dynamic = true
		next[d.Name] = e
	}
	r.mu.Lock()
	for name, e := range r.dbs {
		if !e.dynamic {
			delete(next, name)
			continue
		}
		if _, kept := next[name]; !kept {
			delete(r.dbs, name)
			delete(r.unhealthy, name)
			removed = append(removed, name)
		}
	}
	changed := len(removed) > 0
	for name, e := range next {
		old, had := r.dbs[name]
		if !had {
			added = append(added, name)
		}
		if !had || !reflect.DeepEqual(old, e) {
			r.dbs[name] = e
			changed = true
		}
	}
	if changed {
		r.notifyLocked()
	}
	r.mu.Unlock()
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// SetHealth records the result of a database's check; it reports
// whether that changed the database's health.
func (r *Registry) SetHealth(name string, checkErr error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.dbs[name]; !ok {
		return false
	}
	was, bad := r.unhealthy[name]
	switch {
	case checkErr == nil && !bad:
		return false
	case checkErr == nil:
		delete(r.unhealthy, name)
	case bad && was == checkErr.Error():
		return false
	default:
		r.unhealthy[name] = checkErr.Error()
	}
	r.notifyLocked()
	return true
}

// Health returns whether a database passed its last check, and why not.
// A database not checked yet counts as healthy.
func (r *Registry) Health(name string) (bool, string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	why, bad := r.unhealthy[name]
	return !bad, why
}

// Subscribe returns a channel that receives a value after changes to the
// set of databases or their health (several changes may be reported
// once), and a function that ends the subscription.
func (r *Registry) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subs, ch)
		r.mu.Unlock()
	}
}

func (r *Registry) notifyLocked() {
	for ch := range r.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
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

// definition returns a database as defined, without trust material.
func (r *Registry) definition(name string) (sdk.Database, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.dbs[name]
	return e.db, ok
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
	out := &pluginv1.Database{
		Name: db.Name, Protocol: db.Protocol, Uri: db.URI, Labels: db.Labels,
		Trust: &pluginv1.ServerTrust{Mode: db.Trust.Mode, CaPem: db.Trust.CAPEM, SystemPool: db.Trust.SystemPool, ServerName: db.Trust.ServerName},
	}
	if p := db.Pool; p != nil {
		out.Pool = &pluginv1.DatabasePool{Mode: p.Mode, MaxIdle: int32(p.MaxIdle), IdleTimeoutMs: p.IdleTimeout.Milliseconds()}
	}
	return out
}
