package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/keyway-dev/keyway/core/access"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// testCA returns a self-signed CA certificate as PEM.
func testCA(t *testing.T) string {
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

// loadResources writes src (DIR stands for its directory, which also
// holds ca.pem, a CA, and key.pem, which is not one) and loads it.
func loadResources(t *testing.T, src string) (ResourceSet, string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "r.hcl")
	ca := testCA(t)
	files := map[string]string{
		path:                          strings.ReplaceAll(src, "DIR", dir),
		filepath.Join(dir, "ca.pem"):  ca,
		filepath.Join(dir, "key.pem"): "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	}
	for p, content := range files {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, diags := NewParser().LoadResources(path)
	return set, FormatDiagnostics(diags), ca
}

func TestLoadResourcesReadsRolesAndDatabases(t *testing.T) {
	set, errs, ca := loadResources(t, `role "dev" {
  allow {
    db_labels = { env = ["dev"] }
  }
}

db "orders" {
  description  = "the shop's orders"
  protocol     = "postgres"
  uri          = "10.0.0.5:5432"
  labels       = { env = "dev", team = "shop" }
  ca_cert_file = "DIR/ca.pem"
  mode         = "verify-ca"
  server_name  = "orders.internal"
}

db "billing" {
  protocol               = "postgres"
  uri                    = "billing:5432"
  trust_system_cert_pool = true
  pool {
    mode         = "session"
    max_idle     = 5
    idle_timeout = "1m"
  }
}
`)
	if errs != "" {
		t.Fatal(errs)
	}
	if len(set.Roles) != 1 || set.Roles[0].Name != "dev" || set.Roles[0].Allow.DBLabels["env"][0] != "dev" {
		t.Fatalf("roles: %+v", set.Roles)
	}
	if len(set.Databases) != 2 {
		t.Fatalf("databases: %+v", set.Databases)
	}
	orders, billing := set.Databases[0], set.Databases[1]
	orders.DeclRange, billing.DeclRange = hcl.Range{}, hcl.Range{}
	want := Database{
		Name: "orders", Description: "the shop's orders", Protocol: "postgres", URI: "10.0.0.5:5432",
		Labels: map[string]string{"env": "dev", "team": "shop"}, CACertPEM: ca,
		Mode: "verify-ca", ServerName: "orders.internal",
	}
	want.CACertFile = orders.CACertFile
	if !strings.HasSuffix(orders.CACertFile, "/ca.pem") || !reflect.DeepEqual(orders, want) {
		t.Fatalf("orders:\n got %+v\nwant %+v", orders, want)
	}
	if billing.Name != "billing" || !billing.TrustSystemCertPool || billing.CACertPEM != "" {
		t.Fatalf("billing: %+v", billing)
	}
	if p := billing.Pool; orders.Pool != nil || p == nil || p.Mode != "session" || p.MaxIdle == nil || *p.MaxIdle != 5 || p.IdleTimeout != "1m" {
		t.Fatalf("pools: orders %+v, billing %+v; want none and the billing block's", orders.Pool, billing.Pool)
	}
	if err := CheckDatabase(orders); err != nil {
		t.Fatalf("what create -f loads must pass the auth service's check: %v", err)
	}
}

func TestLoadResourcesErrors(t *testing.T) {
	db := func(body string) string { return "db \"orders\" {\n" + body + "}\n" }
	ok := "  protocol = \"postgres\"\n  uri      = \"h:5432\"\n"
	tests := []struct {
		name, src, want string
	}{
		{"bad name", "db \"Orders\" {\n" + ok + "}\n", `r.hcl:1:1: error: Invalid database name: "Orders" is not a valid database name`},
		{"missing uri", db("  protocol = \"postgres\"\n"), `r.hcl:1:13: error: Missing required argument: The argument "uri" is required`},
		{"unknown attribute", db(ok + "  port = 5432\n"), `r.hcl:4:3: error: Unsupported argument`},
		{"uri without port", db("  protocol = \"postgres\"\n  uri = \"h\"\n"), `r.hcl:3:9: error: Invalid database address`},
		{"bad protocol", db("  protocol = \"Post gres\"\n  uri = \"h:1\"\n"), `r.hcl:2:14: error: Invalid protocol`},
		{"bad mode", db(ok + "  mode = \"require\"\n"), `r.hcl:4:10: error: Invalid trust mode`},
		{"two trusts", db(ok + "  ca_cert_file = \"DIR/ca.pem\"\n  trust_system_cert_pool = true\n"), `r.hcl:5:28: error: Conflicting trust settings`},
		{"missing CA file", db(ok + "  ca_cert_file = \"DIR/none.pem\"\n"), `r.hcl:4:18: error: Unusable CA file: db "orders": ca_cert_file`},
		{"CA file that is a key", db(ok + "  ca_cert_file = \"DIR/key.pem\"\n"), `it holds a PRIVATE KEY block`},
		{"labels of the wrong type", db(ok + "  labels = { env = [\"dev\"] }\n"), `r.hcl:4:12: error: Unsuitable value type: Unsuitable value: element "env": string required`},
		{"bad pool mode", db(ok + "  pool {\n    mode = \"transaction\"\n  }\n"), `r.hcl:1:1: error: Invalid pool mode: Database "orders": pool mode = "transaction"`},
		{"duplicate db", db(ok) + db(ok), `r.hcl:5:1: error: Duplicate db: db "orders" is already defined at`},
		{"database is not the block name", "database \"orders\" {\n" + ok + "}\n", `r.hcl:1:1: error: Unsupported block type`},
		{"a bad role still fails the file", db(ok) + "role \"x\" {}\n", `error: Empty role`},
		{"bad max_session_ttl", "role \"x\" {\n  allow {\n    admin = true\n  }\n  options {\n    max_session_ttl = \"soon\"\n  }\n}\n", `r.hcl:5:3: error: Invalid max_session_ttl: Role "x": max_session_ttl = "soon" is not a positive duration`},
		{"max_connections of zero", "role \"x\" {\n  allow {\n    admin = true\n  }\n  options {\n    max_connections = 0\n  }\n}\n", `r.hcl:5:3: error: Invalid max_connections: Role "x": max_connections = 0; give at least 1`},
		{"max_connections not a number", "role \"x\" {\n  allow {\n    admin = true\n  }\n  options {\n    max_connections = \"two\"\n  }\n}\n", `r.hcl:6:24: error: Unsuitable value type: Unsuitable value: a number is required`},
		{"unknown role option", "role \"x\" {\n  allow {\n    admin = true\n  }\n  options {\n    max_lifetime = \"1h\"\n  }\n}\n", `error: Unsupported argument`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, errs, _ := loadResources(t, tt.src)
			if len(set.Databases)+len(set.Roles) != 0 {
				t.Fatalf("a file with errors gave resources: %+v", set)
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("errors:\n%s\nwant %q", errs, tt.want)
			}
		})
	}
}

func TestLoadResourcesReadsRoleOptions(t *testing.T) {
	set, errs, _ := loadResources(t, `role "contractors" {
  allow {
    db_users = ["readonly"]
  }
  options {
    max_session_ttl = "8h"
    idle_timeout    = "15m"
    max_connections = 4
  }
}
`)
	if errs != "" {
		t.Fatal(errs)
	}
	want := access.RoleOptions{MaxSessionTTL: "8h", IdleTimeout: "15m", MaxConnections: 4}
	if len(set.Roles) != 1 || set.Roles[0].Options != want {
		t.Fatalf("roles: %+v, want options %+v", set.Roles, want)
	}
}
