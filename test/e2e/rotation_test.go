package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// presentedLeaf returns the certificate the proxy presents, without
// verifying it: which key signed it is what the caller wants to know.
func presentedLeaf(addr string) (*x509.Certificate, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], 80877103)
	if _, err := c.Write(req[:]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c, req[:1]); err != nil || req[0] != 'S' {
		return nil, fmt.Errorf("SSLRequest answered %q, %v", req[0], err)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // only the leaf's issuer is read
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc.ConnectionState().PeerCertificates[0], nil
}

// firstExported returns the first certificate keyway auth export prints
// for an authority.
func firstExported(t *testing.T, cfg, typ string) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(kw(t, "auth", "export", "--type="+typ, "-c", cfg)))
	if blk == nil {
		t.Fatalf("keyway auth export --type=%s printed no certificate", typ)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openSession is a database session kept open across phases.
type openSession struct {
	label string
	conn  *pgx.Conn
}

// TestRotationOfEveryAuthorityNeverFailsAConnection rotates the user,
// host, db and db-client authorities together, phase by phase, in front
// of a real PostgreSQL that is reloaded only between phases (the
// db-client bundle after init and after standby, a new server
// certificate in update_servers). In every phase: every session opened
// before still answers, psql connects with certificates from before the
// rotation (until standby) and with new ones, keyway login works with the
// pin of the host key from before the rotation (until standby) and with
// the current one, and a join token created mid-rotation brings in an
// agent that serves sessions to the end.
func TestRotationOfEveryAuthorityNeverFailsAConnection(t *testing.T) {
	a := startAllInOne(t)
	const remote = "rotating-postgres"
	userArgs := []string{"--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres"}
	added := kw(t, "users", "add", "alice", "--roles=access", "--db-users=*", "--db-names=*", "-c", a.cfg)
	m := regexp.MustCompile(`(?m)^\s+([0-9a-f]{32})$`).FindStringSubmatch(added)
	if m == nil {
		t.Fatalf("no invite for alice:\n%s", added)
	}
	invite := a.path("alice.invite")
	if err := os.WriteFile(invite, []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	oldPin := pinOf(kw(t, "status", "-c", a.cfg), "host")
	if out, err := kwAs(t, t.TempDir(), "correct horse battery\n", "login", "--proxy="+a.proxy, "--user=alice", "--ca-pin="+oldPin, "--invite-file="+invite, "--password-stdin"); err != nil {
		t.Fatalf("first login: %v\n%s", err, out)
	}
	oldHost := firstExported(t, a.cfg, "host")
	before := a.userFiles(t, "before", userArgs...)

	var open []openSession
	keep := func(label, prefix, route string) {
		t.Helper()
		conn, err := a.pgxConnect(t, prefix, "postgres", "postgres")
		if err != nil {
			t.Fatalf("%s: opening a session through the proxy to %s: %v", label, route, err)
		}
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		open = append(open, openSession{label: label, conn: conn})
	}
	checkOpen := func(phase string) {
		t.Helper()
		for _, s := range open {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var one int
			err := s.conn.QueryRow(ctx, "select 1").Scan(&one)
			cancel()
			if err != nil || one != 1 {
				t.Fatalf("%s: the session opened %s failed: %v", phase, s.label, err)
			}
		}
	}
	psql := func(phase, prefix string) {
		t.Helper()
		if out, err := pgtestPsql(a.connString(prefix, "postgres", "postgres"), "select current_user"); err != nil || strings.TrimSpace(out) != "postgres" {
			t.Fatalf("%s: psql with %s: %q, %v", phase, filepath.Base(prefix), out, err)
		}
	}
	login := func(phase, pin string) {
		t.Helper()
		if out, err := kwAs(t, t.TempDir(), "correct horse battery\n", "login", "--proxy="+a.proxy, "--user=alice", "--ca-pin="+pin, "--password-stdin"); err != nil {
			t.Fatalf("%s: keyway login with pin %s: %v\n%s", phase, pin, err, out)
		}
	}
	reloads := func() int {
		log, _ := a.pg.Log()
		return strings.Count(log, "received SIGHUP, reloading configuration files")
	}
	reload := func(what string, do func() error) {
		t.Helper()
		n := reloads()
		if err := do(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, "PostgreSQL to reload "+what, func() bool { return reloads() > n })
	}
	keep("before the rotation", before, dbName)

	var newHost *x509.Certificate
	var agentData string
	var updateClientsAt time.Time
	for _, phase := range []string{"init", "update_clients", "update_servers", "standby"} {
		if phase == "standby" {
			// Protocol plugins use a database client certificate for at
			// most 30 s (sdk/dbsession), so that long after
			// update_clients none of the old key's is in use.
			waitFor(t, 45*time.Second, "protocol plugins' database certificates to be of the new key", func() bool {
				return time.Since(updateClientsAt) > 30*time.Second
			})
			// The operator waits for agents to move to the new host
			// key before dropping the old one.
			hostCrt := filepath.Join(agentData, "agent", "host.crt")
			waitFor(t, 75*time.Second, "the joined agent's certificate from the new host key", func() bool {
				c, err := parseLeaf(hostCrt)
				return err == nil && c.CheckSignatureFrom(newHost) == nil
			})
		}
		for _, typ := range []string{"user", "host", "db", "db-client"} {
			out := kw(t, "auth", "rotate", "--type="+typ, "--phase="+phase, "-c", a.cfg)
			if !strings.Contains(out, "the "+typ+" authority is in") {
				t.Fatalf("rotate --type=%s --phase=%s said: %s", typ, phase, out)
			}
		}
		// What an operator does between phases.
		switch phase {
		case "init":
			newHost = firstExported(t, a.cfg, "host")
			bundle := a.export(t, "db-client")
			raw, _ := os.ReadFile(bundle)
			if n := certCount(t, string(raw)); n != 2 {
				t.Fatalf("the db-client export in init has %d certificates, want the old and the new", n)
			}
			reload("the db-client bundle of both keys", func() error { return a.pg.ReplaceCAFile(bundle) })
		case "update_servers":
			prefix := a.path("server-rotated")
			kw(t, "auth", "sign", "--format=db", "--host=127.0.0.1", "--out="+prefix, "-c", a.cfg)
			reload("a server certificate from the new db key", func() error { return a.pg.ReplaceServerCert(prefix+".crt", prefix+".key") })
		case "standby":
			bundle := a.export(t, "db-client")
			raw, _ := os.ReadFile(bundle)
			if n := certCount(t, string(raw)); n != 1 {
				t.Fatalf("the db-client export after standby has %d certificates, want 1", n)
			}
			reload("the db-client bundle of the new key", func() error { return a.pg.ReplaceCAFile(bundle) })
		}
		wantSigner := oldHost
		if phase == "update_servers" || phase == "standby" {
			wantSigner = newHost
		}
		waitFor(t, 30*time.Second, "the proxy to present the certificate of phase "+phase, func() bool {
			leaf, err := presentedLeaf(a.proxy)
			return err == nil && leaf.CheckSignatureFrom(wantSigner) == nil
		})

		checkOpen(phase)
		currentPin := pinOf(kw(t, "status", "-c", a.cfg), "host")
		if phase != "standby" {
			// Until standby, what was issued before the rotation works.
			psql(phase, before)
			keep(phase+" with certificates from before the rotation", before, dbName)
			login(phase, oldPin)
		}
		login(phase, currentPin)
		fresh := a.userFiles(t, "during-"+phase, userArgs...)
		psql(phase, fresh)
		keep("in "+phase, fresh, dbName)

		if phase == "update_clients" {
			updateClientsAt = time.Now()
			// A token created mid-rotation carries the new host key's
			// pin; an agent joins with it and serves a database.
			token := newJoinToken(t, a, "rotation.token")
			cfg := filepath.Join(a.dir, "agent.hcl")
			agentData = filepath.Join(a.dir, "agent")
			body := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = \"joined-mid-rotation\"\n\n  database %q {\n    protocol = \"postgres\"\n    uri      = %q\n  }\n}\n",
				agentData, a.proxy, token, remote, a.pg.Addr())
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			startNode(t, cfg, agentData)
			viaAgent := a.path("via-agent")
			kw(t, append([]string{"auth", "sign", "--format=files", "--user=alice", "--route=" + remote, "--out=" + viaAgent, "-c", a.cfg}, userArgs...)...)
			waitFor(t, 30*time.Second, "the joined agent to serve "+remote, func() bool {
				_, err := pgtestPsql(a.connString(viaAgent, "postgres", "postgres"), "select 1")
				return err == nil
			})
			keep("through the agent joined in update_clients", viaAgent, remote)
		}
	}
	checkOpen("after the rotation")
	if status := kw(t, "status", "-c", a.cfg); strings.Contains(status, "(key dropped at standby)") {
		t.Fatalf("status after the rotation still lists a second key:\n%s", status)
	}
}

// TestRotationRefusesBadInput: unknown phases, phases out of order, a
// second rotation of an authority in rotation and contradicting flags
// are refused with a sentence that says what to do, and change nothing.
func TestRotationRefusesBadInput(t *testing.T) {
	c := newCluster(t, "")
	kw(t, "auth", "rotate", "--type=db", "--phase=init", "-c", c.cfg)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown phase", []string{"--type=user", "--phase=sideways"}, `unknown rotation phase "sideways"`},
		{"a phase before init", []string{"--type=user", "--phase=update_clients"}, "is not being rotated: a rotation starts with phase init"},
		{"skipping a phase", []string{"--type=db", "--phase=update_servers"}, "the next phase is update_clients or rollback, not update_servers"},
		{"a second rotation", []string{"--type=db", "--phase=init"}, "a rotation of the db authority is already in progress (phase init)"},
		{"an automatic rotation over a manual one", []string{"--type=db", "--manual=false"}, "already in progress"},
		{"phase with --manual=false", []string{"--type=user", "--phase=init", "--manual=false"}, "--phase is for a manual rotation"},
		{"--manual without a phase", []string{"--type=user", "--manual"}, "a manual rotation needs --phase"},
		{"unknown authority", []string{"--type=users", "--phase=init"}, `unknown authority "users"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := kwFails(t, append([]string{"auth", "rotate", "-c", c.cfg}, tt.args...)...)
			if !strings.Contains(out, tt.want) {
				t.Fatalf("keyway auth rotate %v said:\n%s\nwant %q", tt.args, out, tt.want)
			}
		})
	}
	status := kw(t, "status", "-c", c.cfg)
	if !strings.Contains(status, "init/manual") || strings.Count(status, "(key dropped at standby)") != 1 {
		t.Fatalf("refused requests changed the authorities:\n%s", status)
	}
}

// TestAutomaticRotationWalksThePhases: keyway auth rotate --manual=false
// starts a rotation that the running keyway moves through
// update_clients, update_servers and standby over the grace period, each
// phase change recorded, while a session opened before keeps working and
// new ones connect.
func TestAutomaticRotationWalksThePhases(t *testing.T) {
	a := startAllInOne(t)
	userArgs := []string{"--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres"}
	before := a.userFiles(t, "before", userArgs...)
	conn, err := a.pgxConnect(t, before, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	out := kw(t, "auth", "rotate", "--type=user", "--manual=false", "--grace=9s", "-c", a.cfg)
	if !strings.Contains(out, "the running keyway completes the rotation by") {
		t.Fatalf("rotate said: %s", out)
	}
	if status := kw(t, "status", "-c", a.cfg); !strings.Contains(status, "init/automatic,standby-at=") {
		t.Fatalf("status of an automatic rotation:\n%s", status)
	}
	waitFor(t, 40*time.Second, "the automatic rotation to reach standby", func() bool {
		status := kw(t, "status", "-c", a.cfg)
		return !strings.Contains(status, "(key dropped at standby)")
	})
	var phases []string
	for _, e := range auditEvents(t, a.cfg, "--type=ca.rotated") {
		if e.Target == "user" && e.Success {
			phases = append(phases, strings.TrimSuffix(strings.Fields(e.Reason)[1], ","))
		}
	}
	if want := "init update_clients update_servers standby"; strings.Join(phases, " ") != want {
		t.Fatalf("recorded phases %v, want %s", phases, want)
	}
	var one int
	if err := conn.QueryRow(context.Background(), "select 1").Scan(&one); err != nil {
		t.Fatalf("the session opened before the rotation: %v", err)
	}
	fresh := a.userFiles(t, "after", userArgs...)
	if out, err := pgtestPsql(a.connString(fresh, "postgres", "postgres"), "select 1"); err != nil {
		t.Fatalf("psql after the rotation: %q, %v", out, err)
	}
}
