package sdk

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// recordingHost keeps the batches a plugin streams.
type recordingHost struct {
	pluginv1.UnimplementedHostServer
	mu      sync.Mutex
	batches [][][]byte
}

func (h *recordingHost) AuditStream(stream pluginv1.Host_AuditStreamServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		h.mu.Lock()
		h.batches = append(h.batches, req.GetEventsJson())
		h.mu.Unlock()
	}
}

func (h *recordingHost) received() (events []AuditEvent, batches int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.batches {
		for _, raw := range b {
			var e AuditEvent
			if err := json.Unmarshal(raw, &e); err == nil {
				events = append(events, e)
			}
		}
	}
	return events, len(h.batches)
}

func TestAuditBatcherSendsEveryEventInOrderInBatches(t *testing.T) {
	tests := []struct {
		name   string
		events int
	}{
		{"one event", 1},
		{"less than a batch", 300},
		{"several batches", 3 * auditBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := &recordingHost{}
			b := newAuditBatcher(dialRecordingHost(t, host))
			for i := range tt.events {
				if _, err := b.enqueue(context.Background(), []AuditEvent{{Event: AuditSessionQuery, Index: int64(i + 1)}}); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			var got []AuditEvent
			var batches int
			for time.Now().Before(deadline) {
				if got, batches = host.received(); len(got) >= tt.events {
					break
				}
				time.Sleep(auditFlushTime)
			}
			if len(got) != tt.events {
				t.Fatalf("received %d events, sent %d", len(got), tt.events)
			}
			for i, e := range got {
				if e.Index != int64(i+1) {
					t.Fatalf("event %d has index %d: out of order or duplicated", i, e.Index)
				}
			}
			if most := (tt.events+auditBatch-1)/auditBatch + 2; tt.events > 1 && batches > most {
				t.Fatalf("%d events took %d sends; batching should need about %d", tt.events, batches, most)
			}
		})
	}
}

// dialRecordingHost serves host on a Unix socket and returns a client.
func dialRecordingHost(t *testing.T, host *recordingHost) pluginv1.HostClient {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "host.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	pluginv1.RegisterHostServer(s, host)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("unix://"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pluginv1.NewHostClient(conn)
}
