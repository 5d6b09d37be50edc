package sdk

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// socketPair returns both ends of a Unix stream socket pair: the plugin's
// and the host's, as the host creates them for an audit pipe.
func socketPair(t *testing.T) (plugin, host net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "audit-pipe")
		c, err := net.FileConn(f)
		_ = f.Close()
		if err != nil {
			t.Fatalf("socket pair end: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// readFrames reads n events from the host's end of an audit pipe and
// returns their queries.
func readFrames(t *testing.T, host net.Conn, n int) []string {
	t.Helper()
	_ = host.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(host)
	out := make([]string, 0, n)
	for range n {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			t.Fatalf("reading event %d of %d: %v", len(out)+1, n, err)
		}
		b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatalf("reading event %d of %d: %v", len(out)+1, n, err)
		}
		var e AuditEvent
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("event %q: %v", b, err)
		}
		out = append(out, e.Query)
	}
	return out
}

func queue(t *testing.T, s auditSender, texts ...string) AuditTicket {
	t.Helper()
	events := make([]AuditEvent, len(texts))
	for i, q := range texts {
		events[i] = AuditEvent{Event: "test", Query: q}
	}
	ticket, err := s.enqueue(context.Background(), events)
	if err != nil {
		t.Fatalf("queueing %d events: %v", len(texts), err)
	}
	return ticket
}

// names returns n distinct event texts.
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestAuditPipeEventsOutliveThePlugin: once wait returns, the events are
// in the host's socket, and the host reads them after the plugin's end is
// gone.
func TestAuditPipeEventsOutliveThePlugin(t *testing.T) {
	plugin, host := socketPair(t)
	p := newAuditPipe(plugin)
	want := names("q", 3)
	ticket := queue(t, p, want...)
	if err := p.wait(context.Background(), ticket); err != nil {
		t.Fatal(err)
	}
	_ = plugin.Close()
	if got := readFrames(t, host, 3); !slices.Equal(got, want) {
		t.Fatalf("the host read %q, want %q", got, want)
	}
}

func TestAuditPipeFlushesEventsNobodyWaitsFor(t *testing.T) {
	plugin, host := socketPair(t)
	p := newAuditPipe(plugin)
	queue(t, p, "session end")
	if got := readFrames(t, host, 1); got[0] != "session end" {
		t.Fatalf("the host read %q", got)
	}
}

// heldWriter blocks each write until the test releases it, and counts the
// events in each.
type heldWriter struct {
	w       io.Writer
	started chan struct{}
	release chan struct{}
	mu      sync.Mutex
	writes  []int
}

func (h *heldWriter) Write(b []byte) (int, error) {
	events := 0
	for rest := b; len(rest) >= 4; events++ {
		rest = rest[4+binary.BigEndian.Uint32(rest):]
	}
	h.mu.Lock()
	h.writes = append(h.writes, events)
	h.mu.Unlock()
	h.started <- struct{}{}
	<-h.release
	return h.w.Write(b)
}

// TestAuditPipeWritesWhatQueuedMeanwhileAtOnce: the events queued while a
// write is under way leave together in the next write.
func TestAuditPipeWritesWhatQueuedMeanwhileAtOnce(t *testing.T) {
	plugin, host := socketPair(t)
	w := &heldWriter{w: plugin, started: make(chan struct{}, 10), release: make(chan struct{})}
	p := newAuditPipe(w)
	first := queue(t, p, "first")
	errs := make(chan error, 101)
	go func() { errs <- p.wait(context.Background(), first) }()
	<-w.started
	rest := names("next", 100)
	tickets := make([]AuditTicket, len(rest))
	for i, q := range rest {
		tickets[i] = queue(t, p, q)
	}
	for _, tk := range tickets {
		go func() { errs <- p.wait(context.Background(), tk) }()
	}
	close(w.release)
	for range 101 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := readFrames(t, host, 101); !slices.Equal(got, append([]string{"first"}, rest...)) {
		t.Fatalf("the host read %d events out of order", len(got))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Equal(w.writes, []int{1, 100}) {
		t.Fatalf("events per write: %v, want [1 100]", w.writes)
	}
}

func TestAuditPipeConcurrentWriters(t *testing.T) {
	plugin, host := socketPair(t)
	p := newAuditPipe(plugin)
	const writers, each = 8, 200
	var want []string
	for w := range writers {
		want = append(want, names(fmt.Sprint("writer", w), each)...)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for _, q := range want[w*each : (w+1)*each] {
				if err := p.wait(context.Background(), queue(t, p, q)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	got := readFrames(t, host, writers*each)
	wg.Wait()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the host read %d events, want each of %d once", len(got), len(want))
	}
}

func TestAuditPipeReportsAHostThatIsGone(t *testing.T) {
	plugin, host := socketPair(t)
	p := newAuditPipe(plugin)
	_ = host.Close()
	ticket := queue(t, p, "lost")
	if err := p.wait(context.Background(), ticket); err == nil {
		t.Fatal("waiting for an event the host cannot read succeeded")
	}
	if _, err := p.enqueue(context.Background(), []AuditEvent{{Event: "test"}}); err == nil {
		t.Fatal("queueing after the pipe broke succeeded")
	}
}

// streamHost serves AuditStream only, as a host without audit pipes.
type streamHost struct {
	pluginv1.UnimplementedHostServer
	received chan string
}

func (h *streamHost) AuditStream(stream pluginv1.Host_AuditStreamServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		for _, b := range req.GetEventsJson() {
			var e AuditEvent
			if err := json.Unmarshal(b, &e); err != nil {
				return err
			}
			h.received <- e.Query
		}
	}
}

// TestAuditStreamWithoutPipe: a host that gives no audit pipe gets the
// events over the gRPC stream.
func TestAuditStreamWithoutPipe(t *testing.T) {
	ln := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	h := &streamHost{received: make(chan string, 10)}
	pluginv1.RegisterHostServer(srv, h)
	go func() { _ = srv.Serve(ln) }()
	conn, err := grpc.NewClient("passthrough:///host",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(); srv.Stop() })
	hc := newHostClient(pluginv1.NewHostClient(conn))
	if err := hc.Audit(context.Background(), AuditEvent{Event: "test", Query: "over the stream"}); err != nil {
		t.Fatal(err)
	}
	select {
	case q := <-h.received:
		if q != "over the stream" {
			t.Fatalf("the host received %q", q)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event did not reach the host")
	}
	if err := hc.AuditWait(context.Background(), 1); err != nil {
		t.Fatalf("waiting without a pipe: %v", err)
	}
}
