package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/dbsession"
)

// ServeSession runs one client session: startup, authorise, connect,
// relay.
//
// The setup runs aside (see aside): its TLS handshake and the host's
// calls need a deep stack, which ends with them. The session's goroutine,
// which then waits in the relay for as long as the session is open,
// keeps only the small stack the relay needs.
func (p *Plugin) ServeSession(ctx context.Context, s *sdk.Session) {
	var o *openSession
	aside(func() { o = p.open(ctx, s) })
	if o == nil {
		return
	}
	defer o.close()
	started := time.Now()
	in, out, stalled := o.relay(s)
	o.ended(time.Since(started), in, out, stalled)
}

// openSession is a session whose client and server are ready: what its
// relay and its end need.
type openSession struct {
	p    *Plugin
	cfg  settings
	aud  *dbsession.Audit
	idle time.Duration
	// relayClient and relayUpstream are what the relay reads and writes.
	relayClient, relayUpstream net.Conn
	// sc is the server's connection, lease its lease when it is pooled,
	// and key and pool where it goes back when the session ends; cancel
	// is the session's registered cancel key.
	sc     *serverConn
	lease  *lease
	key    poolKey
	pool   *sdk.DatabasePool
	cancel *cancelKey
}

// open runs a session's startup, authorisation and login, and tells the
// client it started. It returns nil when the session ended there, after
// telling the client why.
func (p *Plugin) open(ctx context.Context, s *sdk.Session) *openSession {
	begin := time.Now()
	host, cfg := p.current()
	met := sessionMetrics{m: s.Metrics}
	met.auditFailed(0) // exported at zero before anything fails
	client := s.Conn
	_ = client.SetDeadline(time.Now().Add(cfg.startupTimeout))
	startup, cancel, err := receiveStartup(client)
	if err != nil {
		if errors.Is(err, errMalformed) {
			fatal(client, stateProtocolViolation, "keyway: "+err.Error(), "")
		}
		met.started(resultBadStartup)
		return nil
	}
	if cancel != nil {
		// A CancelRequest gets no answer, whatever happens to it.
		if t, ok := p.cancels.lookup(*cancel); ok {
			t.cancel(ctx, cfg.dialTimeout, s.ClientAddr)
		}
		return nil
	}
	if s.Refusal != nil {
		met.started(resultRefused)
		fatal(client, refusalState(s.Refusal.Kind), refusalMessage(s.Refusal), "")
		return nil
	}
	if s.Database == nil || host == nil {
		met.started(resultError)
		fatal(client, stateInternal, "keyway: this session has no database; it reached the postgres plugin through a listener that serves none", "")
		return nil
	}
	dbUser, dbName := startup.Parameters["user"], startup.Parameters["database"]
	if dbName == "" {
		dbName = dbUser
	}
	id, err := dbsession.CheckRoute(s, dbUser, dbName)
	if err != nil {
		met.started(resultDenied)
		fatal(client, stateInvalidAuthorization, err.Error(), "")
		return nil
	}
	aud := dbsession.NewAudit(host, s, id, dbUser, dbName, cfg.cluster)
	aud.OnRefused = met.auditFailed
	refuse := func(result, code, msg string) {
		met.started(result)
		if cfg.sessions() {
			e := aud.Event(sdk.AuditSessionStart, "T2000W", false)
			e.Error = msg
			aud.Emit(e)
		}
		fatal(client, code, msg, "")
	}
	asked := time.Now()
	authz, err := host.Authorize(ctx, sdk.AuthorizeRequest{
		SessionID: s.ID, ClientCertificates: s.ClientCertificates, Database: s.Database.Name,
		DBUser: dbUser, DBName: dbName, ClientAddr: s.ClientAddr,
	})
	met.authorize(time.Since(asked))
	if err != nil {
		refuse(resultError, stateInvalidAuthorization, "keyway could not authorise the session, so it is denied: "+err.Error())
		return nil
	}
	if !authz.Allow {
		refuse(resultDenied, refusalState(authz.RefusalKind()), authz.Message)
		return nil
	}
	cert, err := p.certs.Get(ctx, host, s.ID, s.Database.Name, dbUser)
	if err != nil {
		refuse(resultError, stateInternal, "keyway: "+err.Error())
		return nil
	}
	params := map[string]string{}
	for k, v := range startup.Parameters {
		params[k] = v
	}
	params["user"], params["database"] = dbUser, dbName
	pool := s.Database.Pool
	key := newPoolKey(s.Database, dbUser, dbName, params)
	newKey := func(real cancelKey) cancelKey {
		t := cancelTarget{db: *s.Database, cert: cert, real: real}
		if cfg.sessions() {
			t.aud = aud
		}
		return p.cancels.register(t, s.KeyTag)
	}
	o := &openSession{p: p, cfg: cfg, aud: aud, idle: authz.IdleTimeout, key: key, pool: pool}
	opened := false
	defer func() {
		if !opened {
			o.close()
		}
	}()
	var greeting bytes.Buffer
	sc := p.conns(pool).get(key)
	if sc != nil {
		k := newKey(sc.real)
		o.cancel = &k
		_ = writeGreeting(&greeting, sc, k)
	} else {
		upstream, err := connect(ctx, p.trust, p.groups, s.Database, cert, cfg.dialTimeout)
		if err != nil {
			refuse(resultUnreachable, stateUnableToConnect, fmt.Sprintf("keyway cannot reach database %s at %s: %v", s.Database.Name, s.Database.URI, err))
			return nil
		}
		sc = &serverConn{conn: upstream}
		k, err := login(upstream, &greeting, params, s.Database.Name, dbUser, func(real cancelKey) cancelKey {
			sc.real = real
			return newKey(real)
		})
		o.cancel = k
		if err != nil {
			_ = upstream.Close()
			// The server's or keyway's explanation is in the greeting.
			met.started(resultLoginFailed)
			_, _ = client.Write(greeting.Bytes())
			if cfg.sessions() {
				e := aud.Event(sdk.AuditSessionStart, "T2000W", false)
				e.Error = err.Error()
				aud.Emit(e)
			}
			return nil
		}
		sc.params = greetingParams(greeting.Bytes())
	}
	o.sc = sc
	o.relayClient, o.relayUpstream, o.lease = relayConns(client, sc, p.conns(pool) != nil)
	// The session's record is durable before the client hears it started.
	if cfg.sessions() {
		if err := host.AuditDurable(ctx, aud.Event(sdk.AuditSessionStart, "T2000I", true)); err != nil {
			met.started(resultAuditUnavailable)
			fatal(client, stateRejected, "keyway cannot record this session in its audit log, so it is refused: "+err.Error(), "")
			return nil
		}
	}
	if _, err := client.Write(greeting.Bytes()); err != nil {
		met.started(resultError)
		return nil
	}
	met.started(resultOK)
	met.handshake(time.Since(begin))
	_ = client.SetDeadline(time.Time{})
	_ = sc.conn.SetDeadline(time.Time{})
	opened = true
	return o
}

// relay runs the open session until either side ends it, and returns the
// bytes it passed from and to the client, and whether the client stopped
// reading. Its stack, with the relay's beneath it, is what an idle
// session's goroutine holds, so the session's end is recorded apart
// (ended).
func (o *openSession) relay(s *sdk.Session) (in, out int64, stalled *stalledError) {
	var fromClient, toClient atomic.Int64
	countIn := func(n int) { fromClient.Add(int64(n)); s.CountFromClient(n) }
	countOut := func(n int) { toClient.Add(int64(n)); s.CountToClient(n) }
	s.EndWhenIdle(o.idle, fmt.Sprintf("keyway: the session sent nothing for %s, the idle_timeout of its roles, so it is closed", o.idle))
	server, stopWatch := watchEnd(s, o.relayUpstream)
	// A client that stops reading ends its session after the write
	// timeout, rather than holding it with the server's answer blocked.
	client := newStallGuard(o.relayClient, o.cfg.clientWriteTimeout)
	if o.cfg.statements() {
		stalled = relayAudited(newTracker(o.aud, o.cfg.maxParameter), o.p.bufs, countIn, countOut, client, o.relayUpstream, server, s.EndReason)
	} else {
		stalled = relayPlain(o.p.bufs, countIn, countOut, client, o.relayUpstream, server, s.EndReason)
	}
	stopWatch()
	return fromClient.Load(), toClient.Load(), stalled
}

// ended records the session's end, when sessions are audited, with the
// reason when its client stopped reading.
func (o *openSession) ended(d time.Duration, in, out int64, stalled *stalledError) {
	if o.cfg.sessions() {
		end := o.aud.Event(sdk.AuditSessionEnd, "T2004I", true)
		end.DurationMS, end.BytesIn, end.BytesOut = d.Milliseconds(), in, out
		if stalled != nil {
			end.Error = stalled.Error()
		}
		o.aud.Emit(end)
	}
}

// close returns the server's connection to the pool when it can be
// reused, or else closes it, and unregisters the session's cancel key.
func (o *openSession) close() {
	if o.sc != nil {
		if o.lease != nil && o.lease.reusable() && reset(o.sc, o.cfg.dialTimeout) == nil {
			o.p.conns(o.pool).put(o.key, o.sc, *o.pool)
		} else {
			_ = o.sc.conn.Close()
		}
	}
	if o.cancel != nil {
		o.p.cancels.remove(*o.cancel)
	}
}

// aside runs f on a goroutine of its own and waits for it. The stack f
// grows ends with that goroutine rather than staying, grown, with the
// caller's.
func aside(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// receiveStartup reads startup packets until a StartupMessage or a
// CancelRequest. The proxy already terminated TLS, so encryption requests
// are declined.
func receiveStartup(c net.Conn) (*pgproto3.StartupMessage, *cancelKey, error) {
	for {
		code, body, err := readStartupPacket(c)
		if err != nil {
			return nil, nil, err
		}
		switch code {
		case codeSSLRequest, codeGSSENCRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return nil, nil, err
			}
		case codeCancelRequest:
			if len(body) != 12 {
				return nil, nil, fmt.Errorf("%w: CancelRequest of %d bytes", errMalformed, len(body)+4)
			}
			return nil, &cancelKey{pid: binary.BigEndian.Uint32(body[4:]), secret: binary.BigEndian.Uint32(body[8:])}, nil
		default:
			var m pgproto3.StartupMessage
			if err := m.Decode(body); err != nil {
				return nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
			}
			return &m, nil, nil
		}
	}
}
