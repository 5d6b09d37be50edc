package dbsession

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// sessionAuditWait bounds how long a session waits to queue an event or
// for the host to accept the events queued; past it the session ends.
const sessionAuditWait = 30 * time.Second

// Audit builds and records the audit events of one database
// session: each carries who, from where, to which database as which
// user, and its index in the session. Statements are queued (Emit) and
// travel to the host in batches; Recorded returns once the host holds
// every event queued so far, so that a protocol plugin can hold a
// statement's answer back until the statement is on record.
type Audit struct {
	host sdk.Host
	base sdk.AuditEvent
	// OnRefused, when set, counts events the host did not take.
	OnRefused func(n int)

	index atomic.Int64
	// queued is the ticket of the last queued event, accepted the last
	// one the host is known to hold.
	queued, accepted atomic.Uint64
	// failed holds the first event that could not be queued.
	failed atomic.Pointer[error]
	// spareWait is a bound no call waited on, and spareEvent the memory
	// of the last event passed to the host: the next call reuses them
	// rather than allocate, since every statement makes such calls.
	spareWait  atomic.Pointer[boundedWait]
	spareEvent atomic.Pointer[[1]sdk.AuditEvent]
}

// NewAudit starts the audit trail of a session of id, as dbUser on
// the logical database dbName.
func NewAudit(host sdk.Host, s *sdk.Session, id identity.Identity, dbUser, dbName, cluster string) *Audit {
	base := sdk.AuditEvent{
		Cluster:   cluster,
		SessionID: s.ID, User: id.Name, SpiffeID: id.ID.String(), ClientAddr: s.ClientAddr,
		DBUser: dbUser, DBName: dbName,
	}
	if s.Database != nil {
		base.DBService, base.DBProtocol, base.DBURI = s.Database.Name, s.Database.Protocol, s.Database.URI
	}
	return &Audit{host: host, base: base}
}

// Event returns a new event of the session, numbered after the last.
func (a *Audit) Event(name, code string, success bool) sdk.AuditEvent {
	e := a.base
	e.Event, e.Code, e.Success, e.Time = name, code, success, time.Now().UTC()
	e.Index = a.index.Add(1)
	return e
}

// Durable records events and returns once they are durable: a session's
// start is on record before the client hears that it started.
func (a *Audit) Durable(ctx context.Context, events ...sdk.AuditEvent) error {
	return a.host.AuditDurable(ctx, events...)
}

// Emit queues an event. One that cannot be queued is counted
// (OnRefused), logged in the host's log, and fails the next Recorded:
// never dropped silently.
func (a *Audit) Emit(e sdk.AuditEvent) {
	events := a.spareEvent.Swap(nil)
	if events == nil {
		events = new([1]sdk.AuditEvent)
	}
	events[0] = e
	wait := a.takeWait()
	t, err := a.host.AuditQueued(wait, events[:]...)
	a.giveWait(wait)
	// The host has encoded the event and keeps no part of it.
	events[0] = sdk.AuditEvent{}
	a.spareEvent.Store(events)
	if err != nil {
		if a.OnRefused != nil {
			a.OnRefused(1)
		}
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		_ = a.host.Log(lctx, hclog.Error, "an audit event could not be queued for the host", "event", e.Event, "sid", e.SessionID, "ei", strconv.FormatInt(e.Index, 10), "error", err.Error())
		err = fmt.Errorf("keyway could not queue the audit event of %s: %w", e.Event, err)
		a.failed.CompareAndSwap(nil, &err)
		return
	}
	raise(&a.queued, uint64(t))
}

// Recorded returns once the host holds every event queued so far: what
// the client is told next is on record first. Its error ends the
// session.
func (a *Audit) Recorded() error {
	if err := a.failed.Load(); err != nil {
		return *err
	}
	t := a.queued.Load()
	if t <= a.accepted.Load() {
		return nil
	}
	wait := a.takeWait()
	err := a.host.AuditWait(wait, sdk.AuditTicket(t))
	a.giveWait(wait)
	if err != nil {
		return fmt.Errorf("keyway could not record the session's statements in its audit log: %w", err)
	}
	raise(&a.accepted, t)
	return nil
}

// takeWait returns a bound of sessionAuditWait for one call to the host.
func (a *Audit) takeWait() *boundedWait {
	if w := a.spareWait.Swap(nil); w != nil {
		return w
	}
	return newBoundedWait(sessionAuditWait)
}

// giveWait ends a call's bound: one that started is stopped and
// dropped, one nothing waited on is kept for the next call.
func (a *Audit) giveWait(w *boundedWait) {
	if w.started() {
		w.stop()
		return
	}
	a.spareWait.Store(w)
}

// raise lifts v to n.
func raise(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
