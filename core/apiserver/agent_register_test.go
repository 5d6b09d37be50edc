package apiserver

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/state/embedded"
	"github.com/keyway-dev/keyway/core/tunnel"
)

// joinedAgent joins an agent named name with a token granting grant
// and returns it as the proxy's registry holds it.
func joinedAgent(t *testing.T, svc *auth.Service, name string, grant auth.DBGrant) *tunnel.Agent {
	t.Helper()
	ctx, now := context.Background(), time.Now()
	if !grant.IsEmpty() {
		tok, _, err := svc.AddToken(ctx, "db", grant, time.Hour, "sha256:"+strings.Repeat("0", 64), now)
		if err != nil {
			t.Fatal(err)
		}
		secret, _, _ := auth.ParseToken(tok)
		if _, err := svc.JoinHost(ctx, secret, name, time.Hour, now); err != nil {
			t.Fatal(err)
		}
	}
	a, b := net.Pipe()
	srv, err := tunnel.Server(a)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := tunnel.Client(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	return tunnel.NewRegistry().Add(name, srv)
}

// TestRegisterKeepsToTheGrant registers databases under several grants:
// what the grant covers is served (with a stored resource's labels), the
// rest is answered as refused and audited once, and a grant that cannot
// be read leaves the agent serving nothing.
func TestRegisterKeepsToTheGrant(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &auth.Service{State: st}
	ctx := context.Background()
	if err := svc.PutDatabase(ctx, config.Database{Name: "prod-orders", Protocol: "postgres", URI: "db:5432", Labels: map[string]string{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	var events []audit.Event
	s := &Server{Auth: svc, Audit: func(_ context.Context, e audit.Event) { events = append(events, e) }}
	claim := func(names ...string) *apiv1.RegisterRequest {
		req := &apiv1.RegisterRequest{}
		for _, n := range names {
			req.Databases = append(req.Databases, &apiv1.Database{Name: n, Protocol: "postgres", Healthy: true, Labels: map[string]string{"env": "dev"}})
		}
		return req
	}
	tests := []struct {
		agent       string
		grant       auth.DBGrant
		claims      []string
		wantServed  []string
		wantRefused []string
		wantProdEnv string
	}{
		{"by-name", auth.DBGrant{Names: []string{"a"}}, []string{"a", "b"}, []string{"a"}, []string{"b"}, ""},
		{"by-label", auth.DBGrant{Labels: access.LabelSelector{"env": {"prod"}}}, []string{"prod-orders", "dev-orders"}, []string{"prod-orders"}, []string{"dev-orders"}, "prod"},
		{"claims-do-not-count", auth.DBGrant{Labels: access.LabelSelector{"env": {"dev"}}}, []string{"prod-orders", "x"}, nil, []string{"prod-orders", "x"}, ""},
		{"every-name", auth.DBGrant{Names: []string{"*"}}, []string{"prod-orders", "x"}, []string{"prod-orders", "x"}, nil, "prod"},
		{"never-joined", auth.DBGrant{}, []string{"a"}, nil, []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.agent, func(t *testing.T) {
			events = nil
			ag := joinedAgent(t, svc, tt.agent, tt.grant)
			svcA := AgentService{S: s, Agent: ag}
			for range 2 { // the second registration audits nothing new
				resp, err := svcA.Register(ctx, claim(tt.claims...))
				if err != nil {
					t.Fatal(err)
				}
				var refused []string
				for _, r := range resp.GetRefused() {
					refused = append(refused, r.GetName())
					if !strings.Contains(r.GetReason(), "keyway refused the agent "+tt.agent+"'s registration of the database "+r.GetName()) {
						t.Fatalf("refusal sentence: %q", r.GetReason())
					}
				}
				if !slices.Equal(refused, tt.wantRefused) {
					t.Fatalf("refused %v, want %v", refused, tt.wantRefused)
				}
			}
			var served []string
			for _, d := range ag.Databases() {
				served = append(served, d.Name)
				if d.Name == "prod-orders" && d.Labels["env"] != tt.wantProdEnv {
					t.Fatalf("prod-orders served with labels %v, want the stored env=%s", d.Labels, tt.wantProdEnv)
				}
			}
			if !slices.Equal(served, tt.wantServed) {
				t.Fatalf("served %v, want %v", served, tt.wantServed)
			}
			if len(events) != len(tt.wantRefused) {
				t.Fatalf("audited %d refusals over two registrations, want %d: %+v", len(events), len(tt.wantRefused), events)
			}
			for _, e := range events {
				if e.Event != audit.AgentRefused || e.Success || e.Target != "agent/"+tt.agent || e.Reason != "register" {
					t.Fatalf("refusal event: %+v", e)
				}
			}
		})
	}

	// A grant that cannot be read refuses everything.
	ag := joinedAgent(t, svc, "late", auth.DBGrant{Names: []string{"a"}})
	if _, err := (AgentService{S: s, Agent: ag}).Register(ctx, claim("a")); err != nil || len(ag.Databases()) != 1 {
		t.Fatalf("late's first registration: %v, serving %v", err, ag.Databases())
	}
	_ = st.Close()
	_, err = AgentService{S: s, Agent: ag}.Register(ctx, claim("a"))
	if status.Code(err) != codes.Unavailable || len(ag.Databases()) != 0 {
		t.Fatalf("with the state closed: %v, serving %v; want Unavailable and nothing served", err, ag.Databases())
	}
}
