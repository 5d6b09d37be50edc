package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/auditring"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// pipeBackend records what the audit pipe hands it, refusing the first
// refuse batches.
type pipeBackend struct {
	mu       sync.Mutex
	refuse   int
	attempts int
	events   []string
}

func (b *pipeBackend) Authorize(context.Context, *pluginv1.HostAuthorizeRequest) (*pluginv1.HostAuthorizeResponse, error) {
	return nil, errors.New("not used")
}

func (b *pipeBackend) DatabaseCertificate(context.Context, *pluginv1.DatabaseCertificateRequest) (*pluginv1.DatabaseCertificateResponse, error) {
	return nil, errors.New("not used")
}

func (b *pipeBackend) Audit(_ context.Context, durable bool, events [][]byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.attempts++
	if durable {
		return errors.New("the audit pipe recorded an event durably")
	}
	if b.attempts <= b.refuse {
		return errors.New("the audit log is unavailable")
	}
	for _, e := range events {
		b.events = append(b.events, string(e))
	}
	return nil
}

func (b *pipeBackend) recorded() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.events)
}

func frame(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

func TestAuditPipeIsRecorded(t *testing.T) {
	events := []string{`{"n":1}`, `{"n":2}`, `{"n":3}`}
	var all []byte
	for _, e := range events {
		all = append(all, frame(e)...)
	}
	tests := []struct {
		name string
		// refuse: batches the audit log refuses first.
		refuse int
		// tail is written after the events; close closes the plugin's
		// end afterwards.
		tail  []byte
		close bool
	}{
		{"recorded without waiting for more", 0, nil, false},
		{"what a dead plugin wrote is recorded", 0, nil, true},
		{"a partial last event is discarded", 0, frame(`{"n":4}`)[:6], true},
		{"a refused batch is tried again", 2, nil, false},
	}
	for _, tt := range tests {
		for _, ring := range []bool{false, true} {
			name := tt.name + " (pipe)"
			if ring {
				name = tt.name + " (ring)"
			}
			t.Run(name, func(t *testing.T) { testAuditPipe(t, all, events, tt.refuse, tt.tail, tt.close, ring) })
		}
	}
}

// testAuditPipe writes all and tail as a plugin would, into the pipe or
// into the ring, and checks that events are recorded.
func testAuditPipe(t *testing.T, all []byte, events []string, refuse int, tail []byte, closeEnd, ring bool) {
	host, plugin, err := newAuditPipe()
	if err != nil {
		t.Fatal(err)
	}
	pluginConn, err := net.FileConn(plugin)
	_ = plugin.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pluginConn.Close() }()
	mem, ringFile, err := auditring.Create(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ringFile.Close() }()
	backend := &pipeBackend{refuse: refuse}
	done := make(chan struct{})
	go func() { readAuditPipe(host, mem, backend, hclog.NewNullLogger()); close(done) }()
	write := func(b []byte) error { _, err := pluginConn.Write(b); return err }
	if ring {
		w, err := auditring.Open(ringFile, pluginConn)
		if err != nil {
			t.Fatal(err)
		}
		write = func(b []byte) error { return w.Write(context.Background(), b) }
	}
	if err := write(append(slices.Clone(all), tail...)); err != nil {
		t.Fatal(err)
	}
	if closeEnd {
		_ = pluginConn.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the reader did not end with the plugin's end of the pipe")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(backend.recorded()) < len(events) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := backend.recorded(); !slices.Equal(got, events) {
		t.Fatalf("recorded %q, want %q", got, events)
	}
	backend.mu.Lock()
	attempts := backend.attempts
	backend.mu.Unlock()
	if attempts <= refuse {
		t.Fatalf("%d attempts to record, want more than the %d refused", attempts, refuse)
	}
}

func TestReadFramesTakesWhatIsBuffered(t *testing.T) {
	many := func(n int) []byte {
		var b []byte
		for i := range n {
			b = append(b, frame(fmt.Sprintf(`{"n":%d}`, i))...)
		}
		return b
	}
	oversize := binary.BigEndian.AppendUint32(nil, sdk.MaxAuditFrame+1)
	tests := []struct {
		name string
		in   []byte
		// sizes: the events of each batch read; err: the error after them.
		sizes []int
		err   error
	}{
		{"buffered events come as one batch", many(3), []int{3}, io.EOF},
		{"a batch stops at pipeBatch", many(pipeBatch + 5), []int{pipeBatch, 5}, io.EOF},
		{"a partial event ends the stream", append(many(2), frame(`{"n":9}`)[:6]...), []int{2}, io.ErrUnexpectedEOF},
		{"an event over the limit ends the batch before it", append(many(2), oversize...), []int{2}, io.ErrUnexpectedEOF},
		{"nothing", nil, nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReaderSize(bytes.NewReader(tt.in), chunkSize)
			chunks := newChunkPool()
			var sizes []int
			var err error
			for err == nil {
				var batch frameBatch
				batch, err = readFrames(r, chunks, hclog.NewNullLogger())
				if len(batch.events) > 0 {
					sizes = append(sizes, len(batch.events))
				}
				for _, e := range batch.events {
					if !bytes.HasPrefix(e, []byte(`{"n":`)) || e[len(e)-1] != '}' {
						t.Fatalf("event %q", e)
					}
				}
			}
			if !slices.Equal(sizes, tt.sizes) || !errors.Is(err, tt.err) {
				t.Fatalf("batches %v and %v, want %v and %v", sizes, err, tt.sizes, tt.err)
			}
		})
	}
}

func TestCollectEventsBoundsItsChunks(t *testing.T) {
	chunks := newChunkPool()
	batches := make(chan frameBatch, 2*batchChunks)
	for i := range 2 * batchChunks {
		c := chunks.get(1)
		(*c)[0] = byte(i)
		batches <- frameBatch{events: [][]byte{(*c)[:1]}, chunks: []*[]byte{c}}
	}
	close(batches)
	first := collectEvents(batches)
	if len(first.chunks) != batchChunks || len(first.events) != batchChunks {
		t.Fatalf("first batch: %d events in %d chunks, want %d", len(first.events), len(first.chunks), batchChunks)
	}
	second := collectEvents(batches)
	if len(second.events) != batchChunks || second.events[0][0] != batchChunks {
		t.Fatalf("second batch: %d events starting with %v", len(second.events), second.events[0])
	}
	if rest := collectEvents(batches); len(rest.events) != 0 {
		t.Fatalf("%d events after the last batch", len(rest.events))
	}
}
