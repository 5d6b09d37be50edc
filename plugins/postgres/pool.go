package postgres

import (
	"crypto/tls"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// serverConn is a logged-in server connection and what a client must be
// told when it is handed one: the server's parameters and its real
// cancel key.
type serverConn struct {
	conn   *tls.Conn
	real   cancelKey
	params []paramStatus
}

// paramStatus is one ParameterStatus the server reported.
type paramStatus struct{ name, value string }

// poolKey says which sessions may share a server connection: the same
// database definition, database user, database and startup parameters,
// since those are the session's defaults that DISCARD ALL returns to.
type poolKey struct {
	db, uri, dbUser, dbName, params string
}

// newPoolKey builds the key of a session's startup parameters.
func newPoolKey(db *sdk.Database, dbUser, dbName string, params map[string]string) poolKey {
	names := make([]string, 0, len(params))
	for k := range params {
		if k != "user" && k != "database" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(params[k])
		b.WriteByte(0)
	}
	return poolKey{db: db.Name, uri: db.URI, dbUser: dbUser, dbName: dbName, params: b.String()}
}

// idleConn is a pooled connection waiting for a session. While it waits
// a goroutine reads from it, so a connection the server ends (a
// restart, pg_terminate_backend, idle_session_timeout) leaves the pool
// at once instead of failing the next session.
type idleConn struct {
	sc    *serverConn
	key   poolKey
	timer *time.Timer
	// taken is set, under the pool's lock, by whoever removes the entry:
	// a session, the idle timer or the watcher.
	taken bool
	// done is closed when the watcher stopped; healthy says it stopped
	// because a session took the connection, with nothing read.
	done    chan struct{}
	healthy bool
}

// serverPool keeps idle server connections per key.
type serverPool struct {
	mu   sync.Mutex
	idle map[poolKey][]*idleConn
	// perDB counts the idle connections of each database name.
	perDB map[string]int
}

func newServerPool() *serverPool {
	return &serverPool{idle: map[poolKey][]*idleConn{}, perDB: map[string]int{}}
}

// get returns an idle connection for key, most recently used first, or
// nil; a nil pool has none.
func (p *serverPool) get(key poolKey) *serverConn {
	if p == nil {
		return nil
	}
	for {
		p.mu.Lock()
		list := p.idle[key]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		e := list[len(list)-1]
		p.removeLocked(e)
		p.mu.Unlock()
		e.timer.Stop()
		// Wake the watcher; a read that ends by this deadline read
		// nothing, and the connection is as the reset left it.
		_ = e.sc.conn.SetReadDeadline(time.Unix(1, 0))
		<-e.done
		if e.healthy && e.sc.conn.SetDeadline(time.Time{}) == nil {
			return e.sc
		}
		_ = e.sc.conn.Close()
	}
}

// put keeps sc for key, unless the database already has max idle
// connections.
func (p *serverPool) put(key poolKey, sc *serverConn, settings sdk.DatabasePool) {
	p.mu.Lock()
	if p.perDB[key.db] >= settings.MaxIdle {
		p.mu.Unlock()
		_ = sc.conn.Close()
		return
	}
	e := &idleConn{sc: sc, key: key, done: make(chan struct{})}
	p.idle[key] = append(p.idle[key], e)
	p.perDB[key.db]++
	e.timer = time.AfterFunc(settings.IdleTimeout, func() { p.expire(e) })
	p.mu.Unlock()
	go p.watch(e)
}

// expire closes an entry that waited idle_timeout.
func (p *serverPool) expire(e *idleConn) {
	p.mu.Lock()
	if e.taken {
		p.mu.Unlock()
		return
	}
	p.removeLocked(e)
	p.mu.Unlock()
	_ = e.sc.conn.Close()
}

// watch reads from an idle connection until a session takes it or the
// server sends anything, which an idle connection never expects: an
// error, a shutdown, a notification nobody listens for any more.
func (p *serverPool) watch(e *idleConn) {
	defer close(e.done)
	var b [1]byte
	n, err := e.sc.conn.Read(b[:])
	p.mu.Lock()
	if e.taken {
		e.healthy = n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
		p.mu.Unlock()
		return
	}
	p.removeLocked(e)
	p.mu.Unlock()
	_ = e.sc.conn.Close()
}

// removeLocked takes e out of the pool; p.mu is held.
func (p *serverPool) removeLocked(e *idleConn) {
	e.taken = true
	list := p.idle[e.key]
	for i, x := range list {
		if x == e {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.idle, e.key)
	} else {
		p.idle[e.key] = list
	}
	p.perDB[e.key.db]--
}
