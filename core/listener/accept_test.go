package listener

import (
	"bytes"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
)

// failingListener fails its first accepts with errs, in order, then
// accepts from the real listener it wraps.
type failingListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// acceptError is an accept error as the net package returns it.
func acceptError(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// lockedBuffer is a log destination safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTestMetrics(t *testing.T) (*metrics.Metrics, *metrics.InmemSink) {
	t.Helper()
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	cfg := metrics.DefaultConfig("keyway")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
	m, err := metrics.New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	return m, sink
}

// counter returns a counter's total in sink, by its flattened name.
func counter(sink *metrics.InmemSink, name string) float64 {
	for _, iv := range sink.Data() {
		for key, c := range iv.Counters {
			if strings.HasPrefix(key, name) {
				return c.Sum
			}
		}
	}
	return 0
}

func TestAcceptLoopRidesOutDescriptorExhaustion(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inner.Close() }()
	const failures = 12
	errs := []error{acceptError(syscall.ECONNABORTED)}
	for range failures - 1 {
		errs = append(errs, acceptError(syscall.EMFILE))
	}
	ln := &failingListener{Listener: inner, errs: errs}

	m, sink := newTestMetrics(t)
	var logs lockedBuffer
	var (
		mu        sync.Mutex
		delays    []time.Duration
		saturated []bool
	)
	loop := &AcceptLoop{Name: "proxy", Logger: hclog.New(&hclog.LoggerOptions{Output: &logs}), Metrics: m}
	loop.sleep = func(d time.Duration) {
		mu.Lock()
		delays = append(delays, d)
		saturated = append(saturated, loop.Saturated())
		mu.Unlock()
	}
	accepted := make(chan net.Conn, 1)
	served := make(chan error, 1)
	go func() { served <- loop.Serve(ln, func(c net.Conn) { accepted <- c }) }()

	client, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	select {
	case c := <-accepted:
		_ = c.Close()
	case err := <-served:
		t.Fatalf("Serve returned %v instead of retrying", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted after the errors ended")
	}

	mu.Lock()
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if len(delays) != failures || !slices.Equal(delays, want) {
		t.Fatalf("back-off delays %v, want %v", delays, want)
	}
	if saturated[0] || !saturated[1] || !saturated[failures-1] {
		t.Fatalf("saturated during the errors: %v; want false after ECONNABORTED, true once EMFILE came", saturated)
	}
	mu.Unlock()
	if loop.Saturated() {
		t.Fatal("still saturated after a connection was accepted")
	}
	if n := counter(sink, "keyway.accept.errors;listener=proxy;error=emfile"); n != failures-1 {
		t.Fatalf("EMFILE counter %v, want %d", n, failures-1)
	}
	if n := counter(sink, "keyway.accept.errors;listener=proxy;error=other"); n != 1 {
		t.Fatalf("other-error counter %v, want 1", n)
	}
	out := logs.String()
	if n := strings.Count(out, "cannot accept connections"); n != 1 {
		t.Fatalf("logged the episode %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "accepting connections again") || !strings.Contains(out, "failed_accepts=12") {
		t.Fatalf("recovery not logged:\n%s", out)
	}

	// Closing the listener ends Serve at once, with no error.
	_ = inner.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after the listener closed")
	}
}

func TestAcceptLoopStopsOnPermanentErrors(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inner.Close() }()
	ln := &failingListener{Listener: inner, errs: []error{acceptError(syscall.EBADF)}}
	m, _ := newTestMetrics(t)
	loop := &AcceptLoop{Name: "proxy", Logger: hclog.NewNullLogger(), Metrics: m}
	err = loop.Serve(ln, func(c net.Conn) { _ = c.Close() })
	if !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Serve returned %v, want EBADF", err)
	}
}

func TestSaturationEndsWhenAcceptsStopFailing(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Descriptors run short, then are back, and no client comes to be
	// accepted: the loop waits in Accept and must not stay saturated.
	ln := &failingListener{Listener: inner, errs: []error{acceptError(syscall.EMFILE), acceptError(syscall.ENFILE)}}
	m, sink := newTestMetrics(t)
	loop := &AcceptLoop{Name: "proxy", Logger: hclog.NewNullLogger(), Metrics: m, window: 200 * time.Millisecond}
	served := make(chan error, 1)
	go func() { served <- loop.Serve(ln, func(c net.Conn) { _ = c.Close() }) }()
	deadline := time.Now().Add(10 * time.Second)
	for counter(sink, "keyway.accept.errors;listener=proxy;error=enfile") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the ENFILE error was not counted")
		}
		time.Sleep(time.Millisecond)
	}
	if !loop.Saturated() {
		t.Fatal("not saturated right after EMFILE and ENFILE")
	}
	for loop.Saturated() {
		if time.Now().After(deadline) {
			t.Fatal("still saturated long after the last failed accept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = inner.Close()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestClientsThatGaveUpAreNotASaturation(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inner.Close() }()
	ln := &failingListener{Listener: inner, errs: []error{acceptError(syscall.ECONNABORTED), acceptError(syscall.ECONNRESET), acceptError(syscall.EPROTO)}}
	m, sink := newTestMetrics(t)
	var logs lockedBuffer
	loop := &AcceptLoop{Name: "proxy", Logger: hclog.New(&hclog.LoggerOptions{Output: &logs}), Metrics: m}
	var saturated bool
	loop.sleep = func(time.Duration) { saturated = saturated || loop.Saturated() }
	accepted := make(chan struct{})
	go func() { _ = loop.Serve(ln, func(c net.Conn) { _ = c.Close(); close(accepted) }) }()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
	if saturated {
		t.Fatal("aborted connections counted as a lack of descriptors")
	}
	if n := counter(sink, "keyway.accept.errors;listener=proxy;error=other"); n != 3 {
		t.Fatalf("counted %v failures, want 3", n)
	}
	if out := logs.String(); out != "" {
		t.Fatalf("aborted connections were logged at info level or above:\n%s", out)
	}
}
