// Package pgsink is keyway's PostgreSQL audit sink: events are written in
// batches to a table, one transaction per batch, and searched with SQL on
// its indexed columns.
//
// # The table
//
// Open creates the table (Options.Table, keyway_audit_events by default)
// and its indexes when they are missing:
//
//	seq       bigserial   insertion order, for tail
//	id        text        the event's identity, unique
//	time      timestamptz the event's time            (indexed)
//	event     text        the event type              (indexed with time)
//	username  text        the keyway user             (indexed with time)
//	db        text        the database, db_service    (indexed with time)
//	sid       text        the database session's id
//	body      jsonb       the whole event, as in the file sink
//
// A session event's id is its session id and index ("SID/EI"); any other
// event gets a random id when the sink accepts it. Rows are inserted with
// ON CONFLICT (id) DO NOTHING, so a batch retried after its commit's
// answer was lost is not written twice.
//
// # Durability and failures
//
// Events wait in a bounded queue for one writer. Emit returns once an
// event is queued; EmitDurable returns once its batch is committed. While
// the database cannot be reached the sink is unavailable: it retries with
// backoff, keeps queued events, refuses EmitDurable at once (a session
// start must not wait for a database that is away), and refuses Emit
// only when the queue is full. Nothing is dropped without its emitter
// being told.
package pgsink
