package engine

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
)

// connections are the sessions this plugin serves, by the connection id
// keyway gave their clients. A client names a connection by that id in
// KILL [QUERY] ID, which the plugin turns into the database's own id; the
// ids are random, so a client cannot guess another session's.
type connections struct {
	mu   sync.Mutex
	live map[uint32]liveConn
}

// liveConn is a session's connection to its database.
type liveConn struct {
	database string
	// upstreamID is the database's own id of the connection.
	upstreamID uint32
}

func newConnections() *connections {
	return &connections{live: map[uint32]liveConn{}}
}

// newID returns an id no live session holds. Greetings in flight are
// not tracked: two of them draw the same of 2^31 ids too rarely to
// matter, and the plugin that greets a client is not always the one that
// serves it.
func (c *connections) newID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		// Clients keep thread ids in signed 32-bit integers.
		id := binary.BigEndian.Uint32(b[:]) & 0x7fffffff
		if _, taken := c.live[id]; id != 0 && !taken {
			return id
		}
	}
}

// add records a logged-in session's connection.
func (c *connections) add(id uint32, l liveConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[id] = l
}

// remove forgets a session that ended.
func (c *connections) remove(id uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.live, id)
}

// lookup finds a live session's connection.
func (c *connections) lookup(id uint32) (liveConn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.live[id]
	return l, ok
}
