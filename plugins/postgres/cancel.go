package postgres

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/dbsession"
)

// cancelKey is the process id and secret of a BackendKeyData message.
type cancelKey struct {
	pid, secret uint32
}

// cancelTarget is where a client's CancelRequest must go: the database
// backend behind the key keyway handed out instead of the real one.
type cancelTarget struct {
	db   sdk.Database
	cert tls.Certificate
	real cancelKey
	// aud records the cancel in the session's audit trail; nil when
	// session events are off.
	aud *dbsession.Audit
}

// cancels maps the keys keyway gave clients to their real backends, so a
// plain psql ctrl+c reaches the right backend without a certificate: the
// key itself is the secret, as in PostgreSQL.
type cancels struct {
	mu sync.Mutex
	m  map[cancelKey]cancelTarget
}

func newCancels() *cancels { return &cancels{m: map[cancelKey]cancelTarget{}} }

// register records a session's real key and returns the key for the
// client. The key's secret starts with the session's route tag
// (sdk.Session.KeyTag), so that the proxy passes the client's
// CancelRequest to this plugin alone (keyTagOffset); the rest is random.
func (c *cancels) register(t cancelTarget, tag []byte) cancelKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		copy(b[4:4+sdk.KeyTagSize], tag)
		k := cancelKey{pid: binary.BigEndian.Uint32(b[:4]) | 1, secret: binary.BigEndian.Uint32(b[4:])}
		if _, taken := c.m[k]; !taken {
			c.m[k] = t
			return k
		}
	}
}

func (c *cancels) remove(k cancelKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *cancels) lookup(k cancelKey) (cancelTarget, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[k]
	return t, ok
}

// cancel forwards the request and records it as the session's
// db.session.cancel event, with where the request came from.
func (t cancelTarget) cancel(ctx context.Context, timeout time.Duration, from string) {
	err := t.forward(ctx, timeout)
	if t.aud == nil {
		return
	}
	e := t.aud.Event(sdk.AuditSessionCancel, "T2002I", err == nil)
	e.Reason = "cancel request from " + from
	if err != nil {
		e.Code, e.Error = "T2002W", "keyway could not pass the cancel request to the database: "+err.Error()
	}
	t.aud.Emit(e)
}

// forward sends a CancelRequest for t's real backend over TLS, as the
// database expects from keyway.
func (t cancelTarget) forward(ctx context.Context, timeout time.Duration) error {
	conn, err := connect(ctx, nil, nil, &t.db, t.cert, timeout)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	var msg [16]byte
	binary.BigEndian.PutUint32(msg[0:], 16)
	binary.BigEndian.PutUint32(msg[4:], codeCancelRequest)
	binary.BigEndian.PutUint32(msg[8:], t.real.pid)
	binary.BigEndian.PutUint32(msg[12:], t.real.secret)
	_, err = conn.Write(msg[:])
	return err
}
