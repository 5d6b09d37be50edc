package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// agentCertTTL is short so that the test sees a renewal and the first
// certificate's expiry within a minute.
const agentCertTTL = 45 * time.Second

// TestAgentRenewsItsHostCertificate: with agent_cert_ttl = 45s, a separate
// agent renews its host certificate through its tunnel; once the first
// certificate has expired, a restarted agent still tunnels to the proxy
// (with the renewed one) and serves psql sessions; the renewal is in the
// audit log.
func TestAgentRenewsItsHostCertificate(t *testing.T) {
	dir := t.TempDir()
	proxy := freeAddr(t)
	authCfg := filepath.Join(dir, "auth.hcl")
	kw(t, "configure", "-o", authCfg, "--cluster-name=example", "--data-dir="+filepath.Join(dir, "auth"), "--listen="+proxy)
	src := string(mustRead(t, authCfg))
	if !strings.Contains(src, "auth {\n}") {
		t.Fatalf("no empty auth block in:\n%s", src)
	}
	src = strings.Replace(src, "auth {\n}", "auth {\n  agent_cert_ttl = \""+agentCertTTL.String()+"\"\n}", 1)
	if err := os.WriteFile(authCfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, authCfg, filepath.Join(dir, "auth"))
	hostPin := pinOf(kw(t, "status", "-c", authCfg), "host")

	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", authCfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	added := kw(t, "users", "add", "alice", "--roles=access", "--db-users=*", "--db-names=*", "-c", authCfg)
	inviteFile := writeInvite(t, dir, added)
	server := filepath.Join(dir, "server")
	kwSign(t, "auth", "sign", "--format=db", "--host=127.0.0.1", "--out="+server, "-c", authCfg)
	dbClientCAs := filepath.Join(dir, "db-client.cas")
	if err := os.WriteFile(dbClientCAs, []byte(kw(t, "auth", "export", "--type=db-client", "-c", authCfg)), 0o644); err != nil {
		t.Fatal(err)
	}
	pg := pgtest.Start(t, pgtest.Options{CertFile: server + ".crt", KeyFile: server + ".key", CAFile: dbClientCAs})

	agentCfg := filepath.Join(dir, "agent.hcl")
	agentData := filepath.Join(dir, "agent")
	kw(t, "db", "configure", "create", "-o", agentCfg, "--token="+tokenFile, "--proxy="+proxy,
		"--name=example-postgres", "--protocol=postgres", "--uri="+pg.Addr(), "--data-dir="+agentData)
	agentNode := startNode(t, agentCfg, agentData)
	hostCrt := filepath.Join(agentData, "agent", "host.crt")
	first := readLeaf(t, hostCrt)
	if ttl := first.NotAfter.Sub(first.NotBefore); ttl > agentCertTTL+2*time.Minute {
		t.Fatalf("the joined certificate is valid for %s; agent_cert_ttl is %s", ttl, agentCertTTL)
	}

	home := filepath.Join(dir, "home")
	out, err := kwAs(t, home, "correct horse battery\n", "login", "--proxy="+proxy, "--user=alice", "--ca-pin="+hostPin, "--invite-file="+inviteFile, "--password-stdin")
	if err != nil || !strings.Contains(out, "logged in as: alice") {
		t.Fatalf("login: %v\n%s", err, out)
	}

	// Renewal is due with a third of the lifetime left: at about 30 s.
	// The agent writes the files, then logs the renewal: both are
	// waited for.
	waitFor(t, agentCertTTL+15*time.Second, "the agent's renewed host certificate on disk and in its log", func() bool {
		c, err := parseLeaf(hostCrt)
		return err == nil && c.NotAfter.After(first.NotAfter) && strings.Contains(agentNode.logs(), "renewed the host certificate")
	})
	renewed := readLeaf(t, hostCrt)
	if fi, err := os.Stat(filepath.Join(agentData, "agent", "host.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the renewed key: %v %v", fi, err)
	}
	if logs := agentNode.logs(); !strings.Contains(logs, "renewed the host certificate") || strings.Contains(logs, "PRIVATE KEY") {
		t.Fatalf("agent logs after renewal:\n%s", logs)
	}

	// Wait out the first certificate (a time, not a readiness), then
	// restart the agent: its new tunnel can only be set up with the
	// renewed certificate.
	time.Sleep(time.Until(first.NotAfter.Add(time.Second)))
	if time.Now().After(renewed.NotAfter) {
		t.Fatalf("the renewed certificate (until %s) expired before the restart", renewed.NotAfter)
	}
	if err := agentNode.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-agentNode.exited
	startNode(t, agentCfg, agentData)

	waitFor(t, 15*time.Second, "the restarted agent's database to be listed", func() bool {
		out, _ := kwAs(t, home, "", "db", "ls")
		return strings.Contains(out, "example-postgres")
	})
	out, err = kwAs(t, home, "", "db", "connect", "--db-user=postgres", "--db-name=postgres", "example-postgres", "--", "-Atc", "select current_user")
	if err != nil || strings.TrimSpace(out) != "postgres" {
		t.Fatalf("db connect after the first certificate expired: %v\n%s", err, out)
	}

	var renewals int
	for _, e := range auditEvents(t, authCfg, "--type=cert.issued") {
		if e.Reason == "renewal" && e.Code == "TC001" && e.Success && strings.HasPrefix(e.Target, "host/") {
			renewals++
		}
	}
	if renewals == 0 {
		t.Fatal("no cert.issued event with reason renewal in the audit log")
	}
}

func readLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := parseLeaf(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parseLeaf(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, os.ErrInvalid
	}
	return x509.ParseCertificate(blk.Bytes)
}

// TestAgentFollowsAHostAuthorityRotation: once a host authority rotation
// reaches update_servers, a joined agent sees that the key signing
// servers did not sign its certificate and renews it, so it is signed by
// the new key while both are trusted; after standby the proxy presents a
// certificate from the new key; restarted, the agent tunnels with the new
// certificate and serves sessions.
func TestAgentFollowsAHostAuthorityRotation(t *testing.T) {
	a := startAllInOne(t)
	const remote = "rotated-postgres"
	token := filepath.Join(a.dir, "agent.token")
	if err := os.WriteFile(token, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", a.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, data := filepath.Join(a.dir, "agent.hcl"), filepath.Join(a.dir, "agent")
	body := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = \"rotating\"\n\n  database %q {\n    protocol = \"postgres\"\n    uri      = %q\n  }\n}\n",
		data, a.proxy, token, remote, a.pg.Addr())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	agentNode := startNode(t, cfg, data)
	hostCrt := filepath.Join(data, "agent", "host.crt")
	joined := readLeaf(t, hostCrt)

	for _, phase := range []string{"init", "update_clients", "update_servers"} {
		kw(t, "auth", "rotate", "--type=host", "--phase="+phase, "-c", a.cfg)
	}
	blk, _ := pem.Decode([]byte(kw(t, "auth", "export", "--type=host", "-c", a.cfg)))
	if blk == nil {
		t.Fatal("keyway auth export --type=host printed no certificate")
	}
	active, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if joined.CheckSignatureFrom(active) == nil {
		t.Fatal("the joined certificate already verifies against the rotated authority")
	}
	waitFor(t, 75*time.Second, "the agent's certificate signed by the new host key in update_servers", func() bool {
		c, err := parseLeaf(hostCrt)
		return err == nil && c.CheckSignatureFrom(active) == nil
	})
	if !strings.Contains(agentNode.logs(), "the host authority was rotated") {
		t.Fatalf("agent logs:\n%s", agentNode.logs())
	}
	prefix := a.path("alice-rotated")
	kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*",
		"--route="+remote, "--route-db-user=postgres", "--out="+prefix, "-c", a.cfg)
	kw(t, "auth", "rotate", "--type=host", "--phase=standby", "-c", a.cfg)
	waitFor(t, 30*time.Second, "the proxy's certificate from the new host key after standby", func() bool {
		return serverCertificate(t, a.proxy, prefix+".cas").CheckSignatureFrom(active) == nil
	})

	if err := agentNode.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-agentNode.exited
	startNode(t, cfg, data)
	waitFor(t, 20*time.Second, "a session through the restarted agent", func() bool {
		out, err := pgtest.Psql(a.connString(prefix, "postgres", "postgres"), "select current_user")
		return err == nil && out == "postgres"
	})
}
