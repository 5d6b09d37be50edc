package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// cluster is a keyway configuration with its own managed CAs, used from
// the CLI.
type cluster struct {
	cfg, data, dir string
}

func newCluster(t *testing.T, body string) cluster {
	t.Helper()
	cfg, data := writeConfig(t, body)
	return cluster{cfg: cfg, data: data, dir: filepath.Dir(cfg)}
}

func (c cluster) path(name string) string { return filepath.Join(c.dir, name) }

// export writes an authority's PEM to a file and returns its path.
func (c cluster) export(t *testing.T, typ string) string {
	t.Helper()
	p := c.path(typ + ".ca")
	if err := os.WriteFile(p, []byte(kw(t, "auth", "export", "--type="+typ, "-c", c.cfg)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dbClient issues a db-client certificate for a database user and
// returns the path prefix of its files.
func (c cluster) dbClient(t *testing.T, name, dbUser string) string {
	t.Helper()
	out := c.path(name)
	kwSign(t, "auth", "sign", "--format=db-client", "--db-user="+dbUser, "--out="+out, "-c", c.cfg)
	return out
}

// postgresFor signs a server certificate for 127.0.0.1 and starts
// PostgreSQL with it, trusting the cluster's db-client authority.
func postgresFor(t *testing.T, c cluster) *pgtest.Server {
	t.Helper()
	return postgresWith(t, c, nil)
}

// postgresWith is postgresFor with extra server settings (pgtest's
// Options.Settings), such as max_connections.
func postgresWith(t *testing.T, c cluster, settings map[string]string) *pgtest.Server {
	t.Helper()
	prefix := c.path("server")
	kwSign(t, "auth", "sign", "--format=db", "--host=127.0.0.1", "--out="+prefix, "-c", c.cfg)
	return pgtest.Start(t, pgtest.Options{CertFile: prefix + ".crt", KeyFile: prefix + ".key", CAFile: prefix + ".cas", Settings: settings})
}

func login(pg *pgtest.Server, user, rootCA, client string) (string, error) {
	return pgtest.Psql(pg.ConnString(user, "postgres", rootCA, client+".crt", client+".key"), "select current_user")
}

func TestPostgresTrustsTheClusterAuthorities(t *testing.T) {
	c := newCluster(t, "")
	pg := postgresFor(t, c)
	pg.SQL(t, "create role alice login")
	dbCA := c.export(t, "db")

	postgres := c.dbClient(t, "pg", "postgres")
	if got, err := login(pg, "postgres", dbCA, postgres); err != nil || got != "postgres" {
		t.Fatalf("verify-full login as postgres: %q, %v", got, err)
	}
	alice := c.dbClient(t, "alice", "alice")
	if got, err := login(pg, "alice", dbCA, alice); err != nil || got != "alice" {
		t.Fatalf("login as alice: %q, %v", got, err)
	}
	if out, err := login(pg, "postgres", dbCA, alice); err == nil || !strings.Contains(out, `certificate authentication failed for user "postgres"`) {
		t.Fatalf("alice's certificate logged in as postgres: %q, %v", out, err)
	}

	foreign := newCluster(t, "")
	foreignClient := foreign.dbClient(t, "foreign", "postgres")
	if out, err := login(pg, "postgres", dbCA, foreignClient); err == nil || !strings.Contains(out, "unknown ca") {
		t.Fatalf("a client certificate from another cluster was accepted: %q, %v", out, err)
	}
	if out, err := login(pg, "postgres", foreign.export(t, "db"), postgres); err == nil || !strings.Contains(out, "certificate verify failed") {
		t.Fatalf("the server was trusted through another cluster's db CA: %q, %v", out, err)
	}
	if out, err := login(pg, "postgres", c.export(t, "user"), postgres); err == nil || !strings.Contains(out, "certificate verify failed") {
		t.Fatalf("the server was trusted through the user CA: %q, %v", out, err)
	}
}

// caPlugin launches the cluster's CA plugin from the keyway binary, for
// requests the CLI does not make (certificates valid in the past or the
// future).
func caPlugin(t *testing.T, c cluster) authority.CA {
	t.Helper()
	sup := supervisor.New(supervisor.Options{Logger: hclog.NewNullLogger(), ClusterName: "e2e", DataDir: c.data})
	spec := supervisor.Spec{
		Name: "ca-vault", Builtin: true, Path: built.keyway, Args: []string{"serve-plugin", "ca-vault"},
		Kind: sdk.KindCA, LogLevel: hclog.Warn, Block: config.Plugin{Name: "ca-vault"},
	}
	if err := sup.Start(context.Background(), []supervisor.Spec{spec}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Stop)
	in, _ := sup.Instance("ca-vault")
	conn, err := in.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return authority.GRPC{Client: conn.CA}
}

func TestPostgresRefusesExpiredAndNotYetValidCertificates(t *testing.T) {
	c := newCluster(t, "")
	pg := postgresFor(t, c)
	dbCA := c.export(t, "db")
	ca := caPlugin(t, c)
	tests := []struct {
		name     string
		from, to time.Duration
		want     string
	}{
		{"expired", -2 * time.Hour, -time.Hour, "certificate expired"},
		{"not yet valid", time.Hour, 2 * time.Hour, "bad certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := authority.NewKey("")
			if err != nil {
				t.Fatal(err)
			}
			csr, _ := authority.NewCSR(key, "postgres")
			now := time.Now()
			resp, err := ca.Sign(context.Background(), sdk.SignRequest{
				Authority: sdk.AuthorityDBClient, CSR: csr, CommonName: "postgres",
				NotBefore: now.Add(tt.from), NotAfter: now.Add(tt.to), Usages: []string{"client"},
			})
			if err != nil {
				t.Fatal(err)
			}
			keyPEM, _ := authority.KeyPEM(key)
			prefix := c.path(strings.ReplaceAll(tt.name, " ", "-"))
			if err := (authority.DBFiles{Cert: authority.CertsPEM(resp.Certificate), Key: keyPEM}).Write(prefix); err != nil {
				t.Fatal(err)
			}
			out, err := login(pg, "postgres", dbCA, prefix)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Fatalf("login with a certificate that is %s: %q, %v", tt.name, out, err)
			}
		})
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func certCount(t *testing.T, pemText string) int {
	t.Helper()
	n := 0
	for rest := []byte(pemText); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return n
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Fatal(err)
		}
		n++
	}
}

func TestRotationKeepsOldCertificatesUntilStandby(t *testing.T) {
	c := newCluster(t, "")
	pg := postgresFor(t, c)
	dbCA := c.export(t, "db")
	old := c.dbClient(t, "old", "postgres")

	out := kw(t, "auth", "rotate", "--type=db-client", "--phase=init", "-c", c.cfg)
	if !strings.Contains(out, "the db-client authority is in phase init") || !strings.Contains(out, "keyway auth export --type=db-client") {
		t.Fatalf("rotate said: %s", out)
	}
	if status := kw(t, "status", "-c", c.cfg); !strings.Contains(status, "init/manual,since=") || !strings.Contains(status, "(key dropped at standby)") {
		t.Fatalf("status during the rotation:\n%s", status)
	}
	both := c.export(t, "db-client")
	raw, _ := os.ReadFile(both)
	if n := certCount(t, string(raw)); n != 2 {
		t.Fatalf("db-client export during the grace period has %d certificates, want 2", n)
	}
	if err := pg.ReplaceCAFile(both); err != nil {
		t.Fatal(err)
	}
	kw(t, "auth", "rotate", "--type=db-client", "--phase=update_clients", "-c", c.cfg)
	fresh := c.dbClient(t, "new", "postgres")
	waitFor(t, 10*time.Second, "the new db-client certificate to be accepted", func() bool {
		_, err := login(pg, "postgres", dbCA, fresh)
		return err == nil
	})
	if out, err := login(pg, "postgres", dbCA, old); err != nil {
		t.Fatalf("a certificate from the old key was refused during the grace period: %s", out)
	}

	kw(t, "auth", "rotate", "--type=db-client", "--phase=update_servers", "-c", c.cfg)
	kw(t, "auth", "rotate", "--type=db-client", "--phase=standby", "-c", c.cfg)
	if n := certCount(t, kw(t, "auth", "export", "--type=db-client", "-c", c.cfg)); n != 1 {
		t.Fatalf("db-client export after standby has %d certificates, want 1", n)
	}
	if err := pg.ReplaceCAFile(c.export(t, "db-client")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the old key's certificate to be refused", func() bool {
		_, err := login(pg, "postgres", dbCA, old)
		return err != nil
	})
	if out, err := login(pg, "postgres", dbCA, fresh); err != nil {
		t.Fatalf("the new key's certificate stopped working: %s", out)
	}
}

func TestIdentityFile(t *testing.T) {
	// auth sign reads the stored user through the running keyway.
	c := newCluster(t, "auth {}\n")
	startNode(t, c.cfg, c.data)
	path := c.path("alice.id")
	out := kwSign(t, "auth", "sign", "--user=alice", "--roles=access,dev", "--db-users=postgres,app_*", "--db-names=app", "--out="+path, "-c", c.cfg)
	if !strings.Contains(out, "spiffe://e2e/user/alice") {
		t.Fatalf("sign said: %s", out)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode: %v, %v", fi.Mode(), err)
	}
	f, pair, err := authority.ReadIdentityFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if id.ID.String() != "spiffe://e2e/user/alice" || strings.Join(id.Roles, ",") != "access,dev" ||
		strings.Join(id.DBUsers, ",") != "postgres,app_*" || strings.Join(id.DBNames, ",") != "app" {
		t.Fatalf("identity = %+v", id)
	}
	if ttl := time.Until(id.NotAfter); ttl < 11*time.Hour || ttl > 12*time.Hour+time.Minute {
		t.Fatalf("user certificate lives %s, want 12h", ttl)
	}
	userCA := c.export(t, "user")
	pool := x509.NewCertPool()
	raw, _ := os.ReadFile(userCA)
	pool.AppendCertsFromPEM(raw)
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("user certificate does not verify against the user CA: %v", err)
	}
	hostPool := x509.NewCertPool()
	for _, der := range f.CAs[sdk.AuthorityHost] {
		cert, _ := x509.ParseCertificate(der)
		hostPool.AddCert(cert)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: hostPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("user certificate verifies against the host CA: the authorities are not separate")
	}

	bad := kwFails(t, "auth", "sign", "--user=Alice Smith", "--out="+c.path("x.id"), "-c", c.cfg)
	if !strings.Contains(bad, "Alice Smith") {
		t.Fatalf("a bad user name gave: %s", bad)
	}
}
