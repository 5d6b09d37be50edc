package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// open starts a sink in a fresh directory and closes it with the test.
func open(t *testing.T, o Options) *Sink {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "audit", DefaultFileName)
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// read returns every event in the sink's files.
func read(t *testing.T, path string) ([]audit.Event, ScanStats) {
	t.Helper()
	var out []audit.Event
	st, err := Scan(path, audit.Filter{}, func(e audit.Event) error { out = append(out, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

// query returns a query event; events with indexes of the same number of
// digits encode to lines of the same size.
func query(i int) audit.Event {
	return audit.Event{
		Event: audit.SessionQuery, SessionID: "s", Index: int64(i), User: "alice", Query: fmt.Sprintf("SELECT %d", i),
		Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
	}
}

// checkIndexes fails unless events carry indexes from..to in order.
func checkIndexes(t *testing.T, events []audit.Event, from, to int) {
	t.Helper()
	if len(events) != to-from+1 {
		t.Fatalf("got %d events, want %d (%d..%d)", len(events), to-from+1, from, to)
	}
	for i, e := range events {
		if e.Index != int64(from+i) {
			t.Fatalf("event %d has index %d, want %d", i, e.Index, from+i)
		}
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no path", Options{}, "no path"},
		{"bad fsync", Options{Path: "x", Fsync: "sometimes"}, `fsync policy "sometimes"`},
		{"negative size", Options{Path: "x", MaxSizeBytes: -1}, "negative"},
		{"negative files", Options{Path: "x", MaxFiles: -1}, "negative"},
		{"defaults", Options{Path: "x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.o.withDefaults()
			if tt.want == "" {
				if err != nil || o.Fsync != FsyncInterval || o.MaxSizeBytes != DefaultMaxSizeBytes || o.MaxFiles != DefaultMaxFiles || o.QueueSize != DefaultQueueSize {
					t.Fatalf("defaults: %+v, %v", o, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOrderAndDurability(t *testing.T) {
	for _, policy := range []string{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(policy, func(t *testing.T) {
			// A long interval: only EmitDurable can make data durable in time.
			s := open(t, Options{Fsync: policy, FsyncInterval: time.Hour})
			ctx := context.Background()
			for i := range 200 {
				var err error
				if i%10 == 9 {
					err = s.EmitDurable(ctx, query(i))
				} else {
					err = s.Emit(ctx, query(i))
				}
				if err != nil {
					t.Fatal(err)
				}
				if i%10 == 9 {
					// Everything emitted so far is in the file.
					events, _ := read(t, s.Path())
					checkIndexes(t, events, 0, i)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			events, st := read(t, s.Path())
			checkIndexes(t, events, 0, 199)
			if st.Skipped != 0 {
				t.Fatalf("skipped %d", st.Skipped)
			}
			if got := s.Stats(); got.Written != 200 || got.Syncs == 0 || got.QueueDepth != 0 {
				t.Fatalf("stats %+v", got)
			}
		})
	}
}

func TestEmitDurableWithoutEventsWaitsForQueue(t *testing.T) {
	s := open(t, Options{Fsync: FsyncNever})
	ctx := context.Background()
	for i := range 50 {
		if err := s.Emit(ctx, query(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EmitDurable(ctx); err != nil {
		t.Fatal(err)
	}
	events, _ := read(t, s.Path())
	checkIndexes(t, events, 0, 49)
}

func TestFillsClusterAndTime(t *testing.T) {
	s := open(t, Options{Cluster: "prod"})
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	before := time.Now()
	err := s.EmitDurable(context.Background(),
		audit.Event{Event: audit.AuthLogin, User: "a"},
		audit.Event{Event: audit.AuthLogin, User: "b", Cluster: "other", Time: at, Query: "a < b && c > d"})
	if err != nil {
		t.Fatal(err)
	}
	events, _ := read(t, s.Path())
	if len(events) != 2 {
		t.Fatalf("events %+v", events)
	}
	if events[0].Cluster != "prod" || events[0].Time.Before(before.Add(-time.Second)) || events[0].Time.After(time.Now()) {
		t.Fatalf("filled in: %+v", events[0])
	}
	if events[1].Cluster != "other" || !events[1].Time.Equal(at) || events[1].Query != "a < b && c > d" {
		t.Fatalf("kept: %+v", events[1])
	}
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"query":"a < b && c > d"`) {
		t.Fatalf("query escaped: %s", raw)
	}
}

func TestPermissions(t *testing.T) {
	s := open(t, Options{})
	if err := s.EmitDurable(context.Background(), query(0)); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{s.Path(): 0o600, filepath.Dir(s.Path()): 0o700 | os.ModeDir} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Fatalf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}
}

func TestTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, Options{Path: path})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

func TestBackpressure(t *testing.T) {
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	s := open(t, Options{QueueSize: 1, beforeWrite: func(*os.File) {
		entered <- struct{}{}
		<-release
	}})
	ctx := context.Background()
	if err := s.Emit(ctx, query(0)); err != nil {
		t.Fatal(err)
	}
	<-entered // the writer holds event 0
	if err := s.Emit(ctx, query(1)); err != nil {
		t.Fatal(err) // queued: the queue holds one
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Emit(short, query(2))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Emit on a full queue: %v, want deadline exceeded", err)
	}
	if waited := time.Since(start); waited < 90*time.Millisecond {
		t.Fatalf("Emit returned after %v without waiting", waited)
	}
	if got := s.Stats().QueueDepth; got != 1 {
		t.Fatalf("queue depth %d, want 1", got)
	}
	close(release)
	if err := s.Emit(ctx, query(2)); err != nil { // room again
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	events, _ := read(t, s.Path())
	checkIndexes(t, events, 0, 2)
}

func TestUnwritablePath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, Options{Path: filepath.Join(blocker, "audit", DefaultFileName)})
	if err := s.Healthy(); err == nil {
		t.Fatal("Healthy: nil for an unwritable path")
	}
	ctx := context.Background()
	for name, emit := range map[string]func(context.Context, ...audit.Event) error{"Emit": s.Emit, "EmitDurable": s.EmitDurable} {
		err := emit(ctx, query(0))
		if err == nil || !strings.Contains(err.Error(), "audit log unavailable") || !strings.Contains(err.Error(), "not-a-dir") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close with nothing queued: %v", err)
	}
	if err := s.Emit(ctx, query(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close: %v", err)
	}
}

func TestRecoversWhenPathReturns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	s := open(t, Options{Path: filepath.Join(dir, DefaultFileName), FsyncInterval: 20 * time.Millisecond, retryEvery: 20 * time.Millisecond})
	ctx := context.Background()
	if err := s.EmitDurable(ctx, query(0)); err != nil {
		t.Fatal(err)
	}
	// The directory is replaced by a file: the sink notices the log is
	// gone and cannot recreate it.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sink unavailable", func() bool { return s.Healthy() != nil })
	if err := s.Emit(ctx, query(1)); err == nil {
		t.Fatal("Emit succeeded while the log is unavailable")
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sink healthy", func() bool { return s.Healthy() == nil })
	if err := s.EmitDurable(ctx, query(2)); err != nil {
		t.Fatal(err)
	}
	events, _ := read(t, s.Path())
	checkIndexes(t, events, 2, 2)
}

func TestKeepsAcceptedEventsAcrossAFailedWrite(t *testing.T) {
	var fail sync.Once
	s := open(t, Options{retryEvery: 300 * time.Millisecond, beforeWrite: func(f *os.File) {
		fail.Do(func() { _ = f.Close() }) // the first write fails
	}})
	ctx := context.Background()
	if err := s.Emit(ctx, query(0), query(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed write", func() bool { return s.Healthy() != nil })
	if err := s.Emit(ctx, query(2)); err == nil {
		t.Fatal("Emit accepted while unavailable")
	}
	waitFor(t, "the retry", func() bool { return s.Healthy() == nil })
	if err := s.EmitDurable(ctx, query(3)); err != nil {
		t.Fatal(err)
	}
	events, _ := read(t, s.Path())
	var got []int64
	for _, e := range events {
		got = append(got, e.Index)
	}
	if fmt.Sprint(got) != "[0 1 3]" {
		t.Fatalf("indexes %v, want [0 1 3]: the accepted events kept, the refused one not written", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentEmit(t *testing.T) {
	const goroutines, each = 8, 1000
	s := open(t, Options{MaxSizeBytes: 64 << 10, MaxFiles: 1000, QueueSize: 100})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				e := query(i)
				e.SessionID = fmt.Sprint("g", g)
				var err error
				if i%100 == 99 {
					err = s.EmitDurable(context.Background(), e)
				} else {
					err = s.Emit(context.Background(), e)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	events, st := read(t, s.Path())
	if len(events) != goroutines*each || st.Skipped != 0 {
		t.Fatalf("%d events, %d skipped; want %d", len(events), st.Skipped, goroutines*each)
	}
	next := map[string]int64{}
	for _, e := range events {
		if e.Index != next[e.SessionID] {
			t.Fatalf("%s: index %d, want %d (lost, repeated or reordered)", e.SessionID, e.Index, next[e.SessionID])
		}
		next[e.SessionID]++
	}
	if len(next) != goroutines || st.Files < 2 {
		t.Fatalf("sessions %v, files %d", next, st.Files)
	}
}

func TestEmitJSONWritesObjectsAsTheyAre(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	s := open(t, Options{Path: path})
	ctx := context.Background()
	obj := []byte(`{"event":"db.session.query","query":"select 1","cluster":"c"}`)
	if err := s.EmitJSON(ctx, true, [][]byte{obj}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(obj)+"\n" {
		t.Fatalf("file holds %q", got)
	}
	for _, bad := range []string{`not json`, `["an array"]`, `{"open":`, ``} {
		if err := s.EmitJSON(ctx, false, [][]byte{[]byte(bad)}); err == nil {
			t.Errorf("EmitJSON accepted %q", bad)
		}
	}
}

func TestLineObject(t *testing.T) {
	deep := `{"a":` + strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000) + `}`
	nested := `{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"an event", `{"event":"db.session.query","query":"select 1","parameters":["a","b"],"ei":3,"success":true}`, true},
		{"an escaped line break in a string", `{"query":"select\n1"}`, true},
		{"tabs between tokens", "{\"a\":\t1}", true},
		{"nesting under the fast bound", nested, true},
		{"nesting past encoding/json's limit", deep, false},
		{"a line break between tokens", "{\"a\":\n1}", false},
		{"a carriage return between tokens", "{\"a\":\r1}", false},
		{"a raw line break in a string", "{\"a\":\"x\ny\"}", false},
		{"two objects", `{"a":1}{"b":2}`, false},
		{"an array", `["an array"]`, false},
		{"unterminated", `{"open":`, false},
		{"not JSON", `not json`, false},
		{"a bad escape", `{"a":"\x"}`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lineObject([]byte(tt.in)); got != tt.want {
				t.Fatalf("lineObject = %v, want %v", got, tt.want)
			}
			if !strings.ContainsAny(tt.in, "\n\r") && len(tt.in) > 0 && tt.in[0] == '{' {
				if std := json.Valid([]byte(tt.in)); std != tt.want {
					t.Fatalf("json.Valid = %v, lineObject %v", std, tt.want)
				}
			}
		})
	}
}
