package admin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/audit/file"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
)

// auditOnly is a Source whose only working part is its audit log.
type auditOnly struct{ path string }

func (auditOnly) Plugins(context.Context) []Plugin { return nil }
func (auditOnly) CA(context.Context) (authority.CA, error) {
	return nil, errors.New("no CA")
}
func (auditOnly) Auth() *auth.Service                     { return nil }
func (auditOnly) HostPin(context.Context) (string, error) { return "", errors.New("no pin") }
func (s auditOnly) AuditSearcher() audit.Searcher {
	if s.path == "" {
		return nil
	}
	return file.Searcher{Path: s.path}
}

// serve runs the admin socket for src in a short temporary directory.
func serve(t *testing.T, src Source) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "kw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	srv, err := Listen(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	c := NewClient(SocketPath(dir))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestAuditSearch searches a log through the admin socket with each
// filter.
func TestAuditSearch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit", file.DefaultFileName)
	sink, err := file.Open(file.Options{Path: path, Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	err = sink.EmitDurable(context.Background(),
		audit.Event{Event: audit.AuthLogin, User: "alice", Time: t0},
		audit.Event{Event: audit.SessionStart, User: "alice", DBService: "pg", Time: t0.Add(time.Minute)},
		audit.Event{Event: audit.SessionQuery, User: "bob", DBService: "pg", Query: "select 1", Time: t0.Add(2 * time.Minute)},
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	c := serve(t, auditOnly{path: path})
	tests := []struct {
		name string
		f    audit.Filter
		want []string
	}{
		{"all", audit.Filter{}, []string{audit.AuthLogin, audit.SessionStart, audit.SessionQuery}},
		{"type", audit.Filter{Type: audit.SessionQuery}, []string{audit.SessionQuery}},
		{"user and db", audit.Filter{User: "alice", DB: "pg"}, []string{audit.SessionStart}},
		{"since", audit.Filter{Since: t0.Add(30 * time.Second)}, []string{audit.SessionStart, audit.SessionQuery}},
		{"limit", audit.Filter{Limit: 1}, []string{audit.SessionQuery}},
		{"nothing", audit.Filter{User: "carol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := c.Audit(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range events {
				got = append(got, e.Event)
				if e.Cluster != "c" {
					t.Fatalf("cluster %q", e.Cluster)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAuditSearchErrors checks the refusals: no log kept, a log file
// missing, a negative limit.
func TestAuditSearchErrors(t *testing.T) {
	none := serve(t, auditOnly{})
	missing := serve(t, auditOnly{path: filepath.Join(t.TempDir(), "events.log")})
	for _, tt := range []struct {
		name string
		c    *Client
		f    audit.Filter
		code codes.Code
		want string
	}{
		{"no log", none, audit.Filter{}, codes.FailedPrecondition, "keeps no audit log"},
		{"missing file", missing, audit.Filter{}, codes.NotFound, "no audit log at"},
		{"negative limit", missing, audit.Filter{Limit: -1}, codes.InvalidArgument, "is not a number of events"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.Audit(context.Background(), tt.f)
			if status.Code(err) != tt.code || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v (%s), want %s saying %q", err, status.Code(err), tt.code, tt.want)
			}
		})
	}
}
