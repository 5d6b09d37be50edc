package sdk

import (
	"context"
	"fmt"
	"sync"
	"time"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Audit batching.
const (
	auditQueue     = 8192
	auditBatch     = 512
	auditFlushTime = 20 * time.Millisecond
)

// auditBatcher sends a plugin's audit events to the host over one
// long-lived gRPC stream, in batches. It is the way to a host that gives
// the plugin no audit pipe (an older keyway): it cannot tell when the host
// has an event, so its wait returns at once.
type auditBatcher struct {
	c     pluginv1.HostClient
	queue chan []byte
	once  sync.Once
}

func newAuditBatcher(c pluginv1.HostClient) *auditBatcher {
	return &auditBatcher{c: c, queue: make(chan []byte, auditQueue)}
}

func encodeEvents(events []AuditEvent) ([][]byte, error) {
	out := make([][]byte, 0, len(events))
	for _, e := range events {
		b, err := e.AppendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("encoding audit event: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// enqueue blocks while the queue is full: backpressure, not loss.
func (a *auditBatcher) enqueue(ctx context.Context, events []AuditEvent) (AuditTicket, error) {
	a.once.Do(func() { go a.run() })
	encoded, err := encodeEvents(events)
	if err != nil {
		return 0, err
	}
	for _, b := range encoded {
		select {
		case a.queue <- b:
		case <-ctx.Done():
			return 0, fmt.Errorf("audit queue full: %w", ctx.Err())
		}
	}
	return 0, nil
}

func (a *auditBatcher) wait(context.Context, AuditTicket) error { return nil }

// run sends batches, reopening the stream when it breaks.
func (a *auditBatcher) run() {
	var stream pluginv1.Host_AuditStreamClient
	backoff := 50 * time.Millisecond
	for {
		batch := a.collect()
		for {
			if stream == nil {
				s, err := a.c.AuditStream(context.Background())
				if err != nil {
					time.Sleep(backoff)
					backoff = min(backoff*2, 2*time.Second)
					continue
				}
				stream, backoff = s, 50*time.Millisecond
			}
			if err := stream.Send(&pluginv1.AuditStreamRequest{EventsJson: batch}); err != nil {
				stream = nil
				continue
			}
			break
		}
	}
}

// collect waits for one event and, unless a whole batch is already
// queued, lets the flush time pass before taking what arrived, up to a
// batch. Events arriving meanwhile wait in the queue without waking the
// sender, so a busy plugin wakes it once per batch, not once per event.
func (a *auditBatcher) collect() [][]byte {
	batch := [][]byte{<-a.queue}
	if len(a.queue) < auditBatch-1 {
		time.Sleep(auditFlushTime)
	}
	for len(batch) < auditBatch {
		select {
		case b := <-a.queue:
			batch = append(batch, b)
		default:
			return batch
		}
	}
	return batch
}
