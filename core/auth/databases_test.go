package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/embedded"
	etcdstate "github.com/keyway-dev/keyway/core/state/etcd"
	"github.com/keyway-dev/keyway/test/etcdtest"
)

// Two auth instances share one state: on the embedded store, one backend;
// on etcd, two clients of one cluster under one prefix, as two auth/proxy
// processes would be.
type sharedState func(t *testing.T) (one, two state.Backend)

func TestDatabasesOnEmbedded(t *testing.T) {
	runDatabaseTests(t, func(t *testing.T) (state.Backend, state.Backend) {
		b, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b, b
	})
}

func TestDatabasesOnEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	runDatabaseTests(t, func(t *testing.T) (state.Backend, state.Backend) {
		prefix := "/keyway-auth-test/" + strings.ReplaceAll(t.Name(), "/", "_") + "/"
		var out [2]state.Backend
		for i := range out {
			b, err := etcdstate.Open(t.Context(), etcdstate.Config{Endpoints: cluster.Endpoints(), Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			out[i] = b
		}
		return out[0], out[1]
	})
}

func runDatabaseTests(t *testing.T, open sharedState) {
	t.Run("put list replace remove", func(t *testing.T) { testDatabaseCRUD(t, open) })
	t.Run("invalid definitions are refused", func(t *testing.T) { testDatabaseInvalid(t, open) })
	t.Run("a write on one instance reaches the other's watch", func(t *testing.T) { testDatabaseWatch(t, open) })
}

// auditRecorder keeps the events a Service records.
type auditRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *auditRecorder) record(_ context.Context, e audit.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *auditRecorder) last(t *testing.T) audit.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("no audit event recorded")
	}
	return r.events[len(r.events)-1]
}

func testDatabaseCRUD(t *testing.T, open sharedState) {
	b, _ := open(t)
	rec := &auditRecorder{}
	s := &Service{State: b, Audit: rec.record}
	ctx := t.Context()
	orders := config.Database{
		Name: "orders", Description: "the shop's orders", Protocol: "postgres", URI: "10.0.0.5:5432",
		Labels: map[string]string{"env": "dev"}, CACertFile: "/etc/ca.pem", CACertPEM: testCAPEM(t),
		Mode: "verify-ca", ServerName: "orders.internal",
	}
	if err := s.PutDatabase(ctx, orders); err != nil {
		t.Fatal(err)
	}
	if e := rec.last(t); e.Event != audit.DBCreate || !e.Success || e.Target != "db/orders" {
		t.Fatalf("audit event of the put: %+v", e)
	}
	if err := s.PutDatabase(ctx, config.Database{Name: "billing", Protocol: "postgres", URI: "b:5432", TrustSystemCertPool: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Databases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "billing" || !reflect.DeepEqual(got[1], orders) {
		t.Fatalf("listed %+v", got)
	}

	orders.Labels = map[string]string{"env": "prod"}
	if err := s.PutDatabase(ctx, orders); err != nil {
		t.Fatalf("replacing: %v", err)
	}
	if got, _ = s.Databases(ctx); got[1].Labels["env"] != "prod" {
		t.Fatalf("after the replacement: %+v", got[1])
	}

	if err := s.RemoveDatabase(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if e := rec.last(t); e.Event != audit.DBDelete || !e.Success || e.DBService != "orders" {
		t.Fatalf("audit event of the removal: %+v", e)
	}
	if got, _ = s.Databases(ctx); len(got) != 1 || got[0].Name != "billing" {
		t.Fatalf("after the removal: %+v", got)
	}
	err = s.RemoveDatabase(ctx, "orders")
	if err == nil || err.Error() != "no db resource named orders" {
		t.Fatalf("removing it again: %v", err)
	}
	if e := rec.last(t); e.Event != audit.DBDelete || e.Success || e.Error == "" {
		t.Fatalf("audit event of the failed removal: %+v", e)
	}
}

func testDatabaseInvalid(t *testing.T, open sharedState) {
	b, _ := open(t)
	rec := &auditRecorder{}
	s := &Service{State: b, Audit: rec.record}
	tests := []struct {
		name string
		db   config.Database
		want string
	}{
		{"bad name", config.Database{Name: "Orders", Protocol: "postgres", URI: "h:1"}, `"Orders" is not a valid database name`},
		{"no port", config.Database{Name: "orders", Protocol: "postgres", URI: "h"}, `uri = "h" is not HOST:PORT`},
		{"bad protocol", config.Database{Name: "orders", Protocol: "Post gres", URI: "h:1"}, `protocol = "Post gres"`},
		{"two trusts", config.Database{Name: "orders", Protocol: "postgres", URI: "h:1", CACertPEM: testCAPEM(t), TrustSystemCertPool: true}, "choose one"},
		{"bad mode", config.Database{Name: "orders", Protocol: "postgres", URI: "h:1", Mode: "require"}, `mode = "require"`},
		{"file without content", config.Database{Name: "orders", Protocol: "postgres", URI: "h:1", CACertFile: "/ca.pem"}, "without its content"},
		{"content that is no certificate", config.Database{Name: "orders", Protocol: "postgres", URI: "h:1", CACertFile: "/ca.pem", CACertPEM: "hello"}, "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PutDatabase(t.Context(), tt.db)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if e := rec.last(t); e.Event != audit.DBCreate || e.Success {
				t.Fatalf("audit event of the refusal: %+v", e)
			}
		})
	}
	if got, err := s.Databases(t.Context()); err != nil || len(got) != 0 {
		t.Fatalf("refused definitions were stored: %+v %v", got, err)
	}
}

func testDatabaseWatch(t *testing.T, open sharedState) {
	one, two := open(t)
	writer, watcher := &Service{State: one}, &Service{State: two}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := writer.PutDatabase(ctx, config.Database{Name: "early", Protocol: "postgres", URI: "e:1"}); err != nil {
		t.Fatal(err)
	}
	sets := make(chan []string, 100)
	done := make(chan error, 1)
	go func() {
		done <- watcher.WatchDatabases(ctx, func(dbs []config.Database) error {
			var names []string
			for _, db := range dbs {
				names = append(names, db.Name)
			}
			sets <- names
			return nil
		})
	}()
	next := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case got := <-sets:
				if strings.Join(got, ",") == want {
					return
				}
			case err := <-done:
				t.Fatalf("the watch ended: %v", err)
			case <-deadline:
				t.Fatalf("the watcher never saw [%s]", want)
			}
		}
	}
	next("early")
	if err := writer.PutDatabase(ctx, config.Database{Name: "late", Protocol: "postgres", URI: "l:1"}); err != nil {
		t.Fatal(err)
	}
	next("early,late")
	if err := writer.RemoveDatabase(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	next("late")
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("the watch ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end with its context")
	}
}

// testCAPEM returns a self-signed CA certificate as PEM.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
