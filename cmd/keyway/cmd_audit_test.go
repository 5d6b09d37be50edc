package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/audit/file"
)

// auditFixture writes a configuration and an audit log with a few events.
func auditFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keyway.hcl")
	src := "cluster_name = \"c\"\ndata_dir = \"" + filepath.Join(dir, "data") + "\"\n"
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := file.Open(file.Options{Path: filepath.Join(dir, "data", "audit", "events.log"), Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	err = s.EmitDurable(context.Background(),
		audit.Event{Event: audit.AuthLogin, User: "alice", Success: true, Time: now.Add(-2 * time.Hour)},
		audit.Event{Event: audit.SessionStart, User: "alice", DBService: "orders", DBUser: "app", Success: true, Time: now.Add(-time.Hour)},
		audit.Event{Event: audit.SessionQuery, User: "alice", DBService: "orders", DBUser: "app", Success: true, Time: now.Add(-time.Minute),
			Query: "SELECT *\n  FROM orders WHERE note = 'x' " + strings.Repeat("AND 1=1 ", 20)},
		audit.Event{Event: audit.SessionStart, User: "bob", DBService: "orders", Success: false, Error: "denied by role", Time: now},
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runKeyway(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := execute(args, &out, &errb); code != 0 {
		t.Fatalf("keyway %v: exit %d\n%s", args, code, errb.String())
	}
	return out.String(), errb.String()
}

func TestAuditSearch(t *testing.T) {
	cfg := auditFixture(t)
	tests := []struct {
		name string
		args []string
		want []string // events, in order
	}{
		{"all", nil, []string{audit.AuthLogin, audit.SessionStart, audit.SessionQuery, audit.SessionStart}},
		{"type", []string{"--type=db.session.start"}, []string{audit.SessionStart, audit.SessionStart}},
		{"user", []string{"--user=bob"}, []string{audit.SessionStart}},
		{"db", []string{"--db=orders"}, []string{audit.SessionStart, audit.SessionQuery, audit.SessionStart}},
		{"since duration", []string{"--since=90m"}, []string{audit.SessionStart, audit.SessionQuery, audit.SessionStart}},
		{"since time", []string{"--since=" + time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339)}, []string{audit.SessionQuery, audit.SessionStart}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := runKeyway(t, append([]string{"audit", "search", "-c", cfg, "--format=json"}, tt.args...)...)
			var got []string
			dec := json.NewDecoder(strings.NewReader(out))
			for dec.More() {
				var e audit.Event
				if err := dec.Decode(&e); err != nil {
					t.Fatal(err)
				}
				got = append(got, e.Event)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAuditSearchText(t *testing.T) {
	cfg := auditFixture(t)
	out, _ := runKeyway(t, "audit", "search", "-c", cfg, "--type=db.session.query")
	line := strings.TrimSuffix(out, "\n")
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("want one line:\n%s", out)
	}
	for _, want := range []string{" db.session.query user=alice db=orders db_user=app query=\"SELECT * FROM orders WHERE note = 'x' AND", "…\""} {
		if !strings.Contains(line, want) {
			t.Fatalf("line %q lacks %q", line, want)
		}
	}
	out, _ = runKeyway(t, "audit", "search", "-c", cfg, "--user=bob")
	if !strings.Contains(out, `FAILED error="denied by role"`) {
		t.Fatalf("failure not shown: %s", out)
	}
}

func TestAuditTailWithoutFollow(t *testing.T) {
	cfg := auditFixture(t)
	out, _ := runKeyway(t, "audit", "tail", "-c", cfg, "-n", "2", "--follow=false", "--format=json")
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `"user":"bob"`) {
		t.Fatalf("tail -n 2:\n%s", out)
	}
}

func TestAuditFlagErrors(t *testing.T) {
	cfg := auditFixture(t)
	for _, args := range [][]string{
		{"audit", "search", "-c", cfg, "--since=yesterday"},
		{"audit", "search", "-c", cfg, "--format=xml"},
		{"audit", "tail", "-c", cfg, "-n", "-1", "--follow=false"},
	} {
		var out, errb bytes.Buffer
		if code := execute(args, &out, &errb); code == 0 {
			t.Fatalf("keyway %v succeeded", args)
		}
	}
}

func TestTextLineQuotes(t *testing.T) {
	e := audit.Event{Event: audit.SessionQuery, User: "a b", DBUser: "x\x1b[31m", Query: "select '\x1b]0;pwn\x07'", Success: true}
	line := textLine(e)
	if strings.ContainsAny(line, "\x1b\x07\n") {
		t.Fatalf("control characters in %q", line)
	}
	if !strings.Contains(line, `user="a b"`) {
		t.Fatalf("unquoted space: %q", line)
	}
}
