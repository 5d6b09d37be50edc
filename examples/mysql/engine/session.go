package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/dbsession"
)

// ServeSession runs one client session: login, authorise, connect to the
// database as the database user, relay with auditing.
func (p *Plugin) ServeSession(ctx context.Context, s *sdk.Session) {
	host, cfg := p.current()
	cl, err := p.readLogin(s.Conn, s.Preface, cfg.serverVersion, cfg.loginTimeout)
	if err != nil {
		return
	}
	client := s.Conn
	fail := func(e *wire.Error) { writeError(client, cl.seq, e) }
	switch {
	case s.Refusal != nil:
		fail(refusalError(s.Refusal))
		return
	case s.Database == nil || host == nil:
		fail(&wire.Error{Code: 1105, SQLState: "HY000", Message: "keyway: this session has no database; it reached the mysql plugin through a listener that serves none"})
		return
	}
	dbUser, dbName := cl.login.User, cl.login.Database
	if dbName == "" {
		// A client that names no database (the mariadb client's second
		// connection for KILL QUERY, say) gets the one its certificate
		// is for, as its default schema.
		if id, err := dbsession.ClientIdentity(s); err == nil && id.Route != nil {
			dbName = id.Route.DBName
		}
	}
	id, err := dbsession.CheckRoute(s, dbUser, dbName)
	if err != nil {
		fail(&wire.Error{Code: wire.ErAccessDenied, SQLState: "28000", Message: err.Error()})
		return
	}
	aud := dbsession.NewAudit(host, s, id, dbUser, dbName, cfg.cluster)
	refuse := func(e *wire.Error) {
		if cfg.sessions() {
			ev := aud.Event(sdk.AuditSessionStart, "T2000W", false)
			ev.Error = e.Message
			aud.Emit(ev)
		}
		fail(e)
	}
	authz, err := host.Authorize(ctx, sdk.AuthorizeRequest{
		SessionID: s.ID, ClientCertificates: s.ClientCertificates, Database: s.Database.Name,
		DBUser: dbUser, DBName: dbName, ClientAddr: s.ClientAddr,
	})
	switch {
	case err != nil:
		refuse(&wire.Error{Code: wire.ErAccessDenied, SQLState: "28000", Message: "keyway could not authorise the session, so it is denied: " + err.Error()})
		return
	case !authz.Allow:
		refuse(denial(authz))
		return
	}
	cert, err := p.certs.Get(ctx, host, s.ID, s.Database.Name, dbUser)
	if err != nil {
		refuse(&wire.Error{Code: 1105, SQLState: "HY000", Message: "keyway: " + err.Error()})
		return
	}
	up, err := dialUpstream(ctx, p.trust, s.Database, cert, loginUpstream{
		DBUser: dbUser, DBName: dbName, Capabilities: cl.login.Capabilities,
		Charset: cl.login.Charset, Attributes: cl.login.Attributes,
	}, cfg.dialTimeout)
	if err != nil {
		var refused *errUpstreamRefused
		if errors.As(err, &refused) {
			refuse(refused.err)
		} else {
			refuse(&wire.Error{Code: wire.ErConnectionFailed, SQLState: "HY000",
				Message: fmt.Sprintf("keyway cannot reach database %s at %s: %v", s.Database.Name, s.Database.URI, err)})
		}
		return
	}
	defer func() { _ = up.conn.Close() }()
	// The session's record is durable before the client hears it started.
	if cfg.sessions() {
		if err := aud.Durable(ctx, aud.Event(sdk.AuditSessionStart, "T2000I", true)); err != nil {
			fail(&wire.Error{Code: wire.ErAccessDenied, SQLState: "08004", Message: "keyway cannot record this session in its audit log, so it is refused: " + err.Error()})
			return
		}
	}
	if _, err := wire.WritePacket(client, cl.seq, (&wire.OK{Status: 2}).Append(nil)); err != nil {
		return
	}
	p.conns.add(cl.connID, liveConn{database: s.Database.Name, upstreamID: up.greeting.ConnectionID})
	defer p.conns.remove(cl.connID)

	started := time.Now()
	var in, out atomic.Int64
	r := &relay{
		client: client, upstream: up.conn, conns: p.conns, database: s.Database.Name,
		tracker:  newTracker(cl.login.Capabilities&wire.ClientDeprecateEOF != 0, cfg.maxParameter),
		countIn:  func(n int) { in.Add(int64(n)); s.CountFromClient(n) },
		countOut: func(n int) { out.Add(int64(n)); s.CountToClient(n) },
		ending:   s.Ending(), endReason: s.EndReason,
	}
	if cfg.statements() {
		r.record = func(o *outcome) { aud.Emit(statementEvent(aud, o)) }
		r.recorded = aud.Recorded
	}
	reason := r.run()
	if cfg.sessions() {
		end := aud.Event(sdk.AuditSessionEnd, "T2004I", true)
		end.DurationMS, end.BytesIn, end.BytesOut = time.Since(started).Milliseconds(), in.Load(), out.Load()
		end.Reason = reason
		aud.Emit(end)
	}
}

// refusalError is the host's refusal as an ERR packet.
func refusalError(r *sdk.Refusal) *wire.Error {
	switch r.Kind {
	case sdk.RefusalPlaintext:
		return &wire.Error{Code: wire.ErAccessDenied, SQLState: "28000", Message: plaintextRefusal}
	case sdk.RefusalDenied, sdk.RefusalNotFound:
		return &wire.Error{Code: wire.ErAccessDenied, SQLState: "28000", Message: r.Message}
	case sdk.RefusalUnavailable:
		return &wire.Error{Code: wire.ErConnectionFailed, SQLState: "HY000", Message: r.Message}
	}
	return &wire.Error{Code: 1105, SQLState: "HY000", Message: r.Message}
}

// denial is an authorisation's refusal: ER_ACCESS_DENIED_ERROR with the
// cluster's sentence, which names what was refused (the database user,
// the logical database or the database).
func denial(a sdk.Authorization) *wire.Error {
	if a.RefusalKind() == sdk.RefusalTooManySessions {
		return &wire.Error{Code: wire.ErTooManyUserConns, SQLState: "42000", Message: a.Message}
	}
	return &wire.Error{Code: wire.ErAccessDenied, SQLState: "28000", Message: a.Message}
}

// statementEvent is a command's audit event.
func statementEvent(aud *dbsession.Audit, o *outcome) sdk.AuditEvent {
	name, code := sdk.AuditSessionQuery, "TQ01"
	if o.Kind == "execute" {
		name, code = sdk.AuditSessionStatement, "TS01"
	}
	e := aud.Event(name, code, o.Err == nil)
	e.Query, e.Truncated, e.RowsAffected = o.Text, o.Truncated, int64(o.Affected)
	switch o.Kind {
	case "init_db":
		e.Query = "USE " + o.Text
	case "refused":
		e.Code = "TQ02"
	}
	for _, v := range o.Params {
		if v == nil {
			e.Parameters = append(e.Parameters, "NULL")
		} else {
			e.Parameters = append(e.Parameters, *v)
		}
	}
	if o.ParamsError != "" {
		e.Reason = "parameters not recorded: " + o.ParamsError
	}
	if o.Err != nil {
		e.Code = strings.Replace(code, "01", "02", 1)
		e.Error = fmt.Sprintf("%d (%s): %s", o.Err.Code, o.Err.SQLState, o.Err.Message)
	}
	return e
}
