package apiserver

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/agent"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/state/embedded"
)

// TestAgentWatchesItsDatabases runs the agent's side (agent.Remote) against
// the Agent service over gRPC in memory, on an embedded state store: the
// agent hears of the db resources its selectors match, and of nothing
// else.
func TestAgentWatchesItsDatabases(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	svc := &auth.Service{State: st}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	put := func(name string, labels map[string]string) {
		t.Helper()
		if err := svc.PutDatabase(ctx, config.Database{Name: name, Protocol: "postgres", URI: name + ":5432", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	put("dev-orders", map[string]string{"env": "dev"})
	put("prod-orders", map[string]string{"env": "prod"})

	ln := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	apiv1.RegisterAgentServer(gs, AgentService{S: &Server{Auth: svc}})
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()
	conn, err := grpc.NewClient("passthrough:///agent",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()

	remote := &agent.Remote{}
	sets := make(chan string, 20)
	done := make(chan error, 1)
	go func() {
		done <- remote.WatchDatabases(ctx, []access.LabelSelector{{"env": {"dev", "stag*"}}}, func(dbs []config.Database) {
			var names []string
			for _, db := range dbs {
				names = append(names, db.Name+"@"+db.URI)
			}
			sets <- strings.Join(names, ",")
		})
	}()
	// The watch waits for the tunnel's client.
	time.Sleep(50 * time.Millisecond)
	select {
	case s := <-sets:
		t.Fatalf("heard %q before the tunnel was up", s)
	default:
	}
	remote.Attach("proxy", apiv1.NewAgentClient(conn))

	expect := func(want string) {
		t.Helper()
		select {
		case got := <-sets:
			if got != want {
				t.Fatalf("heard %q, want %q", got, want)
			}
		case err := <-done:
			t.Fatalf("the watch ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("heard nothing, want %q", want)
		}
	}
	expect("dev-orders@dev-orders:5432")
	put("prod-billing", map[string]string{"env": "prod"}) // not selected: nothing is sent
	put("stag-billing", map[string]string{"env": "staging"})
	expect("dev-orders@dev-orders:5432,stag-billing@stag-billing:5432")
	put("dev-orders", map[string]string{"env": "prod"}) // no longer matching
	expect("stag-billing@stag-billing:5432")
	if err := svc.RemoveDatabase(ctx, "stag-billing"); err != nil {
		t.Fatal(err)
	}
	expect("")

	gs.Stop() // as when the tunnel breaks
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "watching db resources through the tunnel") {
			t.Fatalf("the watch ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch outlived its connection")
	}
}
