package postgres

import (
	"crypto/tls"
	"sync"
	"time"
)

// How long a database's key-exchange group is remembered before the
// next connection offers every group again, and how many databases are
// remembered (past it the memory starts again empty).
const (
	groupRelearn    = 10 * time.Minute
	groupMemorySize = 1024
)

// groupMemory remembers, for each database address, the key-exchange
// group the database chose when offered every group Go supports, so
// that later connections offer that group alone. Go sends key shares
// for its first groups (ML-KEM with X25519, and X25519), which a
// PostgreSQL server configured for one curve (its default,
// ssl_ecdh_curve = prime256v1) answers with a retry request: the shares
// cost the plugin their generation and the connection a round trip.
//
// Offering the chosen group is no weaker than what the database picked
// from the full offer in a handshake it signed, and the memory expires
// (groupRelearn) so that a database configured for a stronger group is
// noticed. The zero value is ready; a nil memory remembers nothing.
type groupMemory struct {
	mu     sync.Mutex
	now    func() time.Time
	groups map[string]learnedGroup
}

// learnedGroup is a group a database chose and when.
type learnedGroup struct {
	id tls.CurveID
	at time.Time
}

func (m *groupMemory) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// get returns the group to offer the database at addr alone, 0 to offer
// every group.
func (m *groupMemory) get(addr string) tls.CurveID {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[addr]
	if !ok {
		return 0
	}
	if m.clock().Sub(g.at) >= groupRelearn {
		delete(m.groups, addr)
		return 0
	}
	return g.id
}

// learn records the group the database at addr chose from a full offer.
func (m *groupMemory) learn(addr string, id tls.CurveID) {
	if m == nil || id == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups == nil || len(m.groups) >= groupMemorySize {
		m.groups = map[string]learnedGroup{}
	}
	m.groups[addr] = learnedGroup{id: id, at: m.clock()}
}

// forget drops what is known of the database at addr.
func (m *groupMemory) forget(addr string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.groups, addr)
}
