package tunnel

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Agent is a connected agent as the proxy sees it.
type Agent struct {
	Name      string
	session   *yamux.Session
	mu        sync.RWMutex
	databases []sdk.Database
	unhealthy map[string]string
	// refused are the registrations outside the agent's grant, with why.
	refused map[string]string
	joined  time.Time
	// data are the connections the agent dialled for sessions to come.
	data parked
	// counts are the registry's.
	counts *sessionCounts
}

// SetRefused records the registrations refused to the agent and returns
// the names refused now that were not at the last registration, so that
// each refusal is recorded once, not at every health report.
func (a *Agent) SetRefused(refused map[string]string) (fresh []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name := range refused {
		if _, before := a.refused[name]; !before {
			fresh = append(fresh, name)
		}
	}
	a.refused = refused
	sort.Strings(fresh)
	return fresh
}

// SetHealth records which of the agent's databases failed its last
// check, with why.
func (a *Agent) SetHealth(unhealthy map[string]string) {
	a.mu.Lock()
	a.unhealthy = unhealthy
	a.mu.Unlock()
}

// Healthy reports whether the agent's last check of a database passed.
func (a *Agent) Healthy(db string) (bool, string) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	why, bad := a.unhealthy[db]
	return !bad, why
}

// Databases returns what the agent registered.
func (a *Agent) Databases() []sdk.Database {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.databases
}

// Serves reports whether the agent registered a database of the
// protocol called protocol.
func (a *Agent) Serves(protocol string) bool {
	for _, db := range a.Databases() {
		if db.Protocol == protocol {
			return true
		}
	}
	return false
}

// SetDatabases replaces what the agent registered.
func (a *Agent) SetDatabases(dbs []sdk.Database) {
	a.mu.Lock()
	a.databases = dbs
	a.mu.Unlock()
}

// OpenSession sends a client session to the agent: on a data connection
// the agent dialled ahead when one is parked, else on a new stream of
// its tunnel, which starts with the session's header either way.
func (a *Agent) OpenSession(ctx context.Context, s *pluginv1.Session) (net.Conn, error) {
	header, err := encodeHeader(s)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", a.Name, err)
	}
	if c := a.openData(ctx, header); c != nil {
		a.count(&a.counts.data)
		return c, nil
	}
	if a.session == nil {
		return nil, fmt.Errorf("agent %s: its tunnel reaches another process", a.Name)
	}
	stream, err := a.session.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", a.Name, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = stream.SetWriteDeadline(deadline)
	}
	if _, err := stream.Write(header); err != nil {
		_ = stream.Close()
		return nil, fmt.Errorf("agent %s: %w", a.Name, err)
	}
	_ = stream.SetWriteDeadline(time.Time{})
	a.count(&a.counts.tunnel)
	return stream, nil
}

// count adds a session to one of the registry's counts.
func (a *Agent) count(c *atomic.Uint64) {
	if a.counts != nil {
		c.Add(1)
	}
}

// closed reports whether the agent's tunnel closed. An agent without a
// tunnel in this process (one the auth service keeps for a proxy in
// another, see Registry.Add) is open while it is registered.
func (a *Agent) closed() bool { return a.session != nil && a.session.IsClosed() }

// Registry knows the connected agents.
type Registry struct {
	mu     sync.RWMutex
	agents map[*Agent]struct{}
	next   atomic.Uint64
	counts sessionCounts
}

// sessionCounts counts the sessions sent to agents by how they went.
type sessionCounts struct{ data, tunnel atomic.Uint64 }

// Sessions returns how many sessions the registry's agents were sent on
// data connections and in tunnel streams since it was made.
func (r *Registry) Sessions() (data, tunnel uint64) {
	return r.counts.data.Load(), r.counts.tunnel.Load()
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{agents: map[*Agent]struct{}{}} }

// Add records an agent's tunnel; s is nil for an agent whose tunnel
// reaches a proxy in another process, to which nothing is routed here.
func (r *Registry) Add(name string, s *yamux.Session) *Agent {
	a := &Agent{Name: name, session: s, joined: time.Now(), counts: &r.counts}
	r.mu.Lock()
	r.agents[a] = struct{}{}
	r.mu.Unlock()
	return a
}

// Remove forgets a tunnel and closes the data connections its agent
// parked.
func (r *Registry) Remove(a *Agent) {
	r.mu.Lock()
	delete(r.agents, a)
	r.mu.Unlock()
	a.data.drop()
}

// Find returns a connected agent serving the database. Sessions are
// spread round robin over the agents whose last check of the database
// passed; when none passed, over all that serve it, so the session's
// error says what is wrong.
func (r *Registry) Find(name string) (*Agent, sdk.Database, bool) {
	r.mu.RLock()
	var healthy, serving []*Agent
	var found sdk.Database
	for a := range r.agents {
		if a.closed() {
			continue
		}
		for _, db := range a.Databases() {
			if db.Name != name {
				continue
			}
			found = db
			serving = append(serving, a)
			if ok, _ := a.Healthy(name); ok {
				healthy = append(healthy, a)
			}
		}
	}
	r.mu.RUnlock()
	pool := healthy
	if len(pool) == 0 {
		pool = serving
	}
	if len(pool) == 0 {
		return nil, sdk.Database{}, false
	}
	sort.Slice(pool, func(i, j int) bool { return pool[i].joined.Before(pool[j].joined) })
	return pool[r.next.Add(1)%uint64(len(pool))], found, true
}

// Lookup returns the database as a connected agent registered it,
// without choosing an agent: it leaves the round robin of Find where it
// is, so that looking a database up to authorise a session does not skip
// the agent the next session is due to.
func (r *Registry) Lookup(name string) (sdk.Database, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for a := range r.agents {
		if a.closed() {
			continue
		}
		for _, db := range a.Databases() {
			if db.Name == name {
				return db, true
			}
		}
	}
	return sdk.Database{}, false
}

// Listed is a database and the agent serving it, with the result of
// the agent's last check of it.
type Listed struct {
	Database sdk.Database
	Agent    string
	Healthy  bool
	// Detail is why the check failed.
	Detail string
}

// List returns every database of every connected agent, by name.
func (r *Registry) List() []Listed {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Listed
	for a := range r.agents {
		if a.closed() {
			continue
		}
		for _, db := range a.Databases() {
			ok, why := a.Healthy(db.Name)
			out = append(out, Listed{Database: db, Agent: a.Name, Healthy: ok, Detail: why})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Database.Name != out[j].Database.Name {
			return out[i].Database.Name < out[j].Database.Name
		}
		return out[i].Agent < out[j].Agent
	})
	return out
}

// Agents returns the connected agents.
func (r *Registry) Agents() []*Agent {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Agent, 0, len(r.agents))
	for a := range r.agents {
		if !a.closed() {
			out = append(out, a)
		}
	}
	return out
}
