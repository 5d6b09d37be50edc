package postgres

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

// auditWait bounds how long a session waits to queue an event or for the
// host to accept one; past it the session ends.
const auditWait = 30 * time.Second

// auditor builds a session's audit events: every one carries who, from
// where, to which database as which user, and its index in the session.
type auditor struct {
	host     sdk.Host
	base     sdk.AuditEvent
	index    atomic.Int64
	maxParam int

	// queued is the ticket of the session's last queued event, accepted
	// the last one the host is known to have accepted.
	queued, accepted atomic.Uint64
	// failed holds the first event that could not be queued.
	failed atomic.Pointer[error]
	// metrics counts events the host did not take.
	metrics sessionMetrics
}

func newAuditor(host sdk.Host, s *sdk.Session, id identity.Identity, dbUser, dbName, cluster string, maxParam int) *auditor {
	base := sdk.AuditEvent{
		Cluster:   cluster,
		SessionID: s.ID, User: id.Name, SpiffeID: id.ID.String(), ClientAddr: s.ClientAddr,
		DBUser: dbUser, DBName: dbName,
	}
	if s.Database != nil {
		base.DBService, base.DBProtocol, base.DBURI = s.Database.Name, s.Database.Protocol, s.Database.URI
	}
	return &auditor{host: host, base: base, maxParam: maxParam}
}

// event returns a new event of the session.
func (a *auditor) event(name, code string, success bool) sdk.AuditEvent {
	e := a.base
	e.Event, e.Code, e.Success, e.Time = name, code, success, time.Now().UTC()
	e.Index = a.index.Add(1)
	return e
}

// emit queues an event for the batched stream. An event that cannot be
// queued is counted (audit_events_failed), logged in the host's log, and
// fails the session's next recorded: never dropped silently.
func (a *auditor) emit(e sdk.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), auditWait)
	defer cancel()
	t, err := a.host.AuditQueued(ctx, e)
	if err != nil {
		a.metrics.auditFailed(1)
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		_ = a.host.Log(lctx, hclog.Error, "an audit event could not be queued for the host", "event", e.Event, "sid", e.SessionID, "ei", strconv.FormatInt(e.Index, 10), "error", err.Error())
		err = fmt.Errorf("keyway could not queue the audit event of %s: %w", e.Event, err)
		a.failed.CompareAndSwap(nil, &err)
		return
	}
	storeMax(&a.queued, uint64(t))
}

// recorded returns once the host has accepted every event the session
// queued so far: what the client is told next is on record first.
func (a *auditor) recorded() error {
	if err := a.failed.Load(); err != nil {
		return *err
	}
	t := a.queued.Load()
	if t <= a.accepted.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), auditWait)
	defer cancel()
	if err := a.host.AuditWait(ctx, sdk.AuditTicket(t)); err != nil {
		return fmt.Errorf("keyway could not record the session's statements in its audit log: %w", err)
	}
	storeMax(&a.accepted, t)
	return nil
}

// storeMax raises v to n.
func storeMax(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
