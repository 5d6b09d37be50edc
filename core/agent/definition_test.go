package agent

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/config"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// overTheWire is a db resource as a remote agent receives it: encoded by
// the auth side for WatchDatabases, marshalled, unmarshalled and decoded
// by the agent.
func overTheWire(t *testing.T, db config.Database) config.Database {
	t.Helper()
	b, err := proto.Marshal(DefinitionToProto(db))
	if err != nil {
		t.Fatalf("marshalling the definition: %v", err)
	}
	var d apiv1.DatabaseDefinition
	if err := proto.Unmarshal(b, &d); err != nil {
		t.Fatalf("unmarshalling the definition: %v", err)
	}
	return DefinitionFromProto(&d)
}

// pluginDatabase is the database a protocol plugin receives for name.
func pluginDatabase(t *testing.T, r *Registry, name string) *pluginv1.Database {
	t.Helper()
	db, found, err := r.Get(t.Context(), name)
	if err != nil || !found {
		t.Fatalf("Get %s: found %v, %v", name, found, err)
	}
	return DatabaseToProto(db)
}

// TestDBResourcePoolReachesThePlugin follows a db resource's pool block
// from the stored definition through WatchDatabases to the database the
// plugin gets, and holds it to what the plugin gets for the same
// definition as a database block of the agent's configuration.
func TestDBResourcePoolReachesThePlugin(t *testing.T) {
	seven := 7
	tests := []struct {
		name string
		pool *config.Pool
		want *pluginv1.DatabasePool // nil: no pool
	}{
		{name: "no pool block"},
		{
			name: "every attribute",
			pool: &config.Pool{Mode: "session", MaxIdle: &seven, IdleTimeout: "30s"},
			want: &pluginv1.DatabasePool{Mode: "session", MaxIdle: 7, IdleTimeoutMs: (30 * time.Second).Milliseconds()},
		},
		{
			name: "mode only, the defaults apply",
			pool: &config.Pool{Mode: "session"},
			want: &pluginv1.DatabasePool{Mode: "session", MaxIdle: 20, IdleTimeoutMs: (5 * time.Minute).Milliseconds()},
		},
		{
			name: "timeout without max_idle",
			pool: &config.Pool{Mode: "session", IdleTimeout: "2m"},
			want: &pluginv1.DatabasePool{Mode: "session", MaxIdle: 20, IdleTimeoutMs: (2 * time.Minute).Milliseconds()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := pg("orders", "orders.internal:5432", map[string]string{"env": "dev"})
			db.TrustSystemCertPool = true
			db.Pool = tt.pool

			dynamic, err := NewRegistry(nil, noCAs{})
			if err != nil {
				t.Fatal(err)
			}
			dynamic.ReplaceDynamic([]config.Database{overTheWire(t, db)})
			got := pluginDatabase(t, dynamic, "orders").GetPool()
			if !proto.Equal(got, tt.want) {
				t.Fatalf("the plugin got pool %v from the db resource, want %v", got, tt.want)
			}

			static, err := NewRegistry([]config.Database{db}, noCAs{})
			if err != nil {
				t.Fatal(err)
			}
			if fromBlock := pluginDatabase(t, static, "orders").GetPool(); !proto.Equal(got, fromBlock) {
				t.Fatalf("the plugin got pool %v from the db resource but %v from a database block", got, fromBlock)
			}
		})
	}
}

// TestDefinitionKeepsEveryField sends through WatchDatabases a db
// resource with every field of config.Database set, so that a field
// added to the definition and not to DatabaseDefinition fails here
// rather than going missing on remote agents.
func TestDefinitionKeepsEveryField(t *testing.T) {
	three := 3
	db := config.Database{
		Name: "orders", Description: "the shop's orders", Protocol: "postgres", URI: "orders.internal:5432",
		Labels:     map[string]string{"env": "dev"},
		CACertFile: "/etc/keyway/orders-ca.pem", CACertPEM: "-----BEGIN CERTIFICATE-----\n",
		TrustSystemCertPool: true, Mode: "verify-ca", ServerName: "orders",
		Pool: &config.Pool{Mode: "session", MaxIdle: &three, IdleTimeout: "1m"},
	}
	v := reflect.ValueOf(db)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Name != "DeclRange" && v.Field(i).IsZero() {
			t.Fatalf("this test leaves config.Database.%s unset: set it, and carry it in DatabaseDefinition", f.Name)
		}
	}
	if got := overTheWire(t, db); !reflect.DeepEqual(got, db) {
		t.Fatalf("WatchDatabases turned\n%+v\ninto\n%+v", db, got)
	}
}
