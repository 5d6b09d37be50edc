package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

func TestRotation(t *testing.T) {
	line := len(mustLine(t, query(10))) // every event of the test has this size
	s := open(t, Options{MaxSizeBytes: int64(4 * line), MaxFiles: 3})
	ctx := context.Background()
	for i := 10; i < 40; i++ {
		if err := s.Emit(ctx, query(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// 30 events, 4 a file: the active file and 3 rotated ones are kept,
	// holding the newest 2 + 3*4 = 14.
	names, err := files(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{s.Path() + ".3", s.Path() + ".2", s.Path() + ".1", s.Path()}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", names, want)
	}
	for _, n := range names {
		st, err := os.Stat(n)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > int64(4*line) || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: size %d mode %v", n, st.Size(), st.Mode())
		}
	}
	events, err := Search(filepath.Dir(s.Path()), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, events, 26, 39)
	if got := s.Stats().Rotations; got != 7 {
		t.Fatalf("rotations %d, want 7", got)
	}
}

func mustLine(t *testing.T, e audit.Event) []byte {
	t.Helper()
	e.Time = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	lines, err := (&Sink{}).encode([]audit.Event{e})
	if err != nil {
		t.Fatal(err)
	}
	return lines[0]
}

func TestTornLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, DefaultFileName)
	var data []byte
	for i := range 3 {
		data = append(data, mustLine(t, query(i))...)
	}
	torn := mustLine(t, query(3))
	data = append(data, torn[:len(torn)/2]...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	events, st := read(t, path)
	checkIndexes(t, events, 0, 2)
	if st.Skipped != 1 || st.Events != 3 {
		t.Fatalf("stats %+v, want 3 events and 1 skipped", st)
	}

	// A sink reopening the file terminates the torn line first: later
	// events are intact and the torn one stays skipped.
	s := open(t, Options{Path: path})
	if err := s.EmitDurable(context.Background(), query(4)); err != nil {
		t.Fatal(err)
	}
	events, st = read(t, path)
	if len(events) != 4 || events[3].Index != 4 || st.Skipped != 1 {
		t.Fatalf("after reopening: %d events, stats %+v", len(events), st)
	}
}

func TestSearchFilter(t *testing.T) {
	s := open(t, Options{})
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	in := []audit.Event{
		{Event: audit.AuthLogin, User: "alice", Time: t0},
		{Event: audit.SessionStart, User: "alice", DBService: "pg", Time: t0.Add(time.Minute)},
		{Event: audit.SessionQuery, User: "alice", DBService: "pg", Query: "q1", Time: t0.Add(2 * time.Minute)},
		{Event: audit.SessionQuery, User: "bob", DBService: "pg", Query: "q2", Time: t0.Add(3 * time.Minute)},
		{Event: audit.SessionQuery, User: "bob", DBService: "other", Query: "q3", Time: t0.Add(4 * time.Minute)},
	}
	if err := s.EmitDurable(context.Background(), in...); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    audit.Filter
		want []int
	}{
		{"all", audit.Filter{}, []int{0, 1, 2, 3, 4}},
		{"type", audit.Filter{Type: audit.SessionQuery}, []int{2, 3, 4}},
		{"user", audit.Filter{User: "bob"}, []int{3, 4}},
		{"db", audit.Filter{DB: "pg"}, []int{1, 2, 3}},
		{"since", audit.Filter{Since: t0.Add(2 * time.Minute)}, []int{2, 3, 4}},
		{"limit keeps the newest", audit.Filter{Limit: 2}, []int{3, 4}},
		{"limit above matches", audit.Filter{Type: audit.SessionQuery, Limit: 10}, []int{2, 3, 4}},
		{"combined", audit.Filter{Type: audit.SessionQuery, User: "alice", DB: "pg"}, []int{2}},
		{"none", audit.Filter{User: "carol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Search(s.Path(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				if !got[i].Time.Equal(in[w].Time) {
					t.Fatalf("event %d at %v, want %v", i, got[i].Time, in[w].Time)
				}
			}
		})
	}
}

func TestSearchMissing(t *testing.T) {
	_, err := Search(filepath.Join(t.TempDir(), DefaultFileName), audit.Filter{})
	if err == nil || !strings.Contains(err.Error(), "no audit log") {
		t.Fatalf("error %v", err)
	}
}

func TestFilesIgnoresOtherNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"events.log", "events.log.2", "events.log.10", "events.log.1", "events.log.01", "events.log.x", "events.log.-1", "other.log.1"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := files(filepath.Join(dir, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, filepath.Base(g))
	}
	if want := "events.log.10 events.log.2 events.log.1 events.log"; strings.Join(names, " ") != want {
		t.Fatalf("files %v, want %s", names, want)
	}
}

func TestOverlongLineSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	data := append(mustLine(t, query(0)), strings.Repeat("x", maxLine+10)+"\n"...)
	data = append(data, mustLine(t, query(1))...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	events, st := read(t, path)
	checkIndexes(t, events, 0, 1)
	if st.Skipped != 1 {
		t.Fatalf("stats %+v", st)
	}
}
