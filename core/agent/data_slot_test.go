package agent

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// fixedCAs answers every authority with the same bytes.
type fixedCAs string

func (f fixedCAs) PEM(context.Context, sdk.Authority) ([]byte, error) { return []byte(f), nil }

// A data connection a plugin completed TLS on carries a session only
// when the proxy's certificate names the proxy it was dialled to; the
// session's database is then the one this agent serves, or a refusal.
func TestDataSlotOpensOnlyTheDialledProxysSessions(t *testing.T) {
	ca := newTestCA(t)
	reg, err := NewRegistry([]config.Database{pg("orders", "o:5432", nil)}, fixedCAs("db authority"))
	if err != nil {
		t.Fatal(err)
	}
	client := &TunnelClient{
		ProxyAddr: "127.0.0.1:3080", Registry: reg,
		Identity: NewCurrentIdentity(Identity{Cert: ca.issue(t, "spiffe://c/host/agent"), HostCAs: [][]byte{ca.cert.Raw}, Cluster: "c"}),
		HostID:   func() string { return "spiffe://c/host/p1" },
	}
	header := func(db string) []byte {
		b, err := proto.Marshal(&pluginv1.Session{Id: "s1", Database: &pluginv1.Database{Name: db}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		proxy   string
		db      string
		wantErr bool
		refusal string
	}{
		{name: "the dialled proxy, a served database", proxy: "spiffe://c/host/p1", db: "orders"},
		{name: "the dialled proxy, another database", proxy: "spiffe://c/host/p1", db: "billing", refusal: "not_found"},
		{name: "another proxy of the cluster", proxy: "spiffe://c/host/p2", db: "orders", wantErr: true},
		{name: "a proxy of another cluster", proxy: "spiffe://other/host/p1", db: "orders", wantErr: true},
		{name: "a user, not a host", proxy: "spiffe://c/user/p1", db: "orders", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan bool, 1)
			slot, err := newDataSlot(client, done)
			if err != nil {
				t.Fatal(err)
			}
			if slot.ServerName != "127.0.0.1" {
				t.Fatalf("server name %q; want the proxy's host", slot.ServerName)
			}
			meta, err := slot.Open(context.Background(), ca.issue(t, tc.proxy).Certificate, header(tc.db))
			if used := <-done; used == tc.wantErr {
				t.Fatalf("the slot was signalled used=%v", used)
			}
			if tc.wantErr {
				if err == nil {
					t.Fatal("a session from a proxy the slot was not dialled to was opened")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := meta.GetRefusal().GetKind(); got != tc.refusal {
				t.Fatalf("refusal %q; want %q", got, tc.refusal)
			}
			if tc.refusal == "" && (meta.GetDatabase().GetUri() != "o:5432" || string(meta.GetDatabase().GetTrust().GetCaPem()) != "db authority") {
				t.Fatalf("the session's database is %v; want the one this agent serves", meta.GetDatabase())
			}
			slot.Lost() // a second signal is dropped: done holds one value
			if len(done) != 0 {
				t.Fatal("the slot was signalled twice")
			}
		})
	}
}
