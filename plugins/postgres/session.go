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
func (p *Plugin) ServeSession(ctx context.Context, s *sdk.Session) {
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
		return
	}
	if cancel != nil {
		// A CancelRequest gets no answer, whatever happens to it.
		if t, ok := p.cancels.lookup(*cancel); ok {
			t.cancel(ctx, cfg.dialTimeout, s.ClientAddr)
		}
		return
	}
	if s.Refusal != nil {
		met.started(resultRefused)
		fatal(client, refusalState(s.Refusal.Kind), refusalMessage(s.Refusal), "")
		return
	}
	if s.Database == nil || host == nil {
		met.started(resultError)
		fatal(client, stateInternal, "keyway: this session has no database; it reached the postgres plugin through a listener that serves none", "")
		return
	}
	dbUser, dbName := startup.Parameters["user"], startup.Parameters["database"]
	if dbName == "" {
		dbName = dbUser
	}
	id, err := dbsession.CheckRoute(s, dbUser, dbName)
	if err != nil {
		met.started(resultDenied)
		fatal(client, stateInvalidAuthorization, err.Error(), "")
		return
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
		return
	}
	if !authz.Allow {
		refuse(resultDenied, refusalState(authz.RefusalKind()), authz.Message)
		return
	}
	cert, err := p.certs.Get(ctx, host, s.ID, s.Database.Name, dbUser)
	if err != nil {
		refuse(resultError, stateInternal, "keyway: "+err.Error())
		return
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
	var greeting bytes.Buffer
	sc := p.conns(pool).get(key)
	if sc != nil {
		k := newKey(sc.real)
		defer p.cancels.remove(k)
		_ = writeGreeting(&greeting, sc, k)
	} else {
		upstream, err := connect(ctx, p.trust, s.Database, cert, cfg.dialTimeout)
		if err != nil {
			refuse(resultUnreachable, stateUnableToConnect, fmt.Sprintf("keyway cannot reach database %s at %s: %v", s.Database.Name, s.Database.URI, err))
			return
		}
		sc = &serverConn{conn: upstream}
		k, err := login(upstream, &greeting, params, s.Database.Name, dbUser, func(real cancelKey) cancelKey {
			sc.real = real
			return newKey(real)
		})
		if k != nil {
			defer p.cancels.remove(*k)
		}
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
			return
		}
		sc.params = greetingParams(greeting.Bytes())
	}
	upstream := sc.conn
	relayClient, relayUpstream, lease := relayConns(client, sc, p.conns(pool) != nil)
	defer func() {
		if lease != nil && lease.reusable() && reset(sc, cfg.dialTimeout) == nil {
			p.conns(pool).put(key, sc, *pool)
			return
		}
		_ = upstream.Close()
	}()
	// The session's record is durable before the client hears it started.
	if cfg.sessions() {
		if err := host.AuditDurable(ctx, aud.Event(sdk.AuditSessionStart, "T2000I", true)); err != nil {
			met.started(resultAuditUnavailable)
			fatal(client, stateRejected, "keyway cannot record this session in its audit log, so it is refused: "+err.Error(), "")
			return
		}
	}
	if _, err := client.Write(greeting.Bytes()); err != nil {
		met.started(resultError)
		return
	}
	met.started(resultOK)
	met.handshake(time.Since(begin))
	_ = client.SetDeadline(time.Time{})
	_ = upstream.SetDeadline(time.Time{})
	started := time.Now()
	var in, out atomic.Int64
	countIn := func(n int) { in.Add(int64(n)); s.CountFromClient(n) }
	countOut := func(n int) { out.Add(int64(n)); s.CountToClient(n) }
	s.EndWhenIdle(authz.IdleTimeout, fmt.Sprintf("keyway: the session sent nothing for %s, the idle_timeout of its roles, so it is closed", authz.IdleTimeout))
	server, stopWatch := watchEnd(s, relayUpstream)
	// A client that stops reading ends its session after the write
	// timeout, rather than holding it with the server's answer blocked.
	relayClient = newStallGuard(relayClient, cfg.clientWriteTimeout)
	var stalled *stalledError
	if cfg.statements() {
		stalled = relayAudited(newTracker(aud, cfg.maxParameter), p.bufs, countIn, countOut, relayClient, relayUpstream, server, s.EndReason)
	} else {
		stalled = relayPlain(p.bufs, countIn, countOut, relayClient, relayUpstream, server, s.EndReason)
	}
	stopWatch()
	if cfg.sessions() {
		end := aud.Event(sdk.AuditSessionEnd, "T2004I", true)
		end.DurationMS, end.BytesIn, end.BytesOut = time.Since(started).Milliseconds(), in.Load(), out.Load()
		if stalled != nil {
			end.Error = stalled.Error()
		}
		aud.Emit(end)
	}
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
