package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// kwAs runs the CLI with a user's own keyway home and optional stdin.
func kwAs(t *testing.T, home, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(built.keyway, args...)
	cmd.Env = append(os.Environ(), "KEYWAY_HOME="+home)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestWalkthroughWithASeparateAgent follows the product's walkthrough:
// an auth and proxy host, a PostgreSQL with certificates from the
// cluster, an agent in its own process joining with a token, and a user
// who logs in with an invite and reaches the database with psql.
func TestWalkthroughWithASeparateAgent(t *testing.T) {
	dir := t.TempDir()
	proxy := freeAddr(t)
	authCfg := filepath.Join(dir, "auth.hcl")
	kw(t, "configure", "-o", authCfg, "--cluster-name=example", "--data-dir="+filepath.Join(dir, "auth"), "--listen="+proxy)
	startNode(t, authCfg, filepath.Join(dir, "auth"))

	status := kw(t, "status", "-c", authCfg)
	hostPin := pinOf(status, "host")
	if !strings.HasPrefix(hostPin, "sha256:") {
		t.Fatalf("no host pin in status:\n%s", status)
	}
	// The walkthrough's token names no grant: the agent's first
	// registration (example-postgres) becomes its grant.
	token := kw(t, "tokens", "add", "--type=db", "--format=text", "-c", authCfg)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
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
		"--name=example-postgres", "--description=orders of the shop", "--protocol=postgres", "--uri="+pg.Addr(), "--labels=env=dev", "--data-dir="+agentData)
	unit := filepath.Join(dir, "keyway.service")
	kw(t, "install", "systemd", "-o", unit, "-c", agentCfg)
	if b := mustRead(t, unit); !strings.Contains(string(b), "ExecStart="+built.keyway+" start -c "+agentCfg) {
		t.Fatalf("unit file:\n%s", b)
	}
	if path, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.Command(path, "verify", unit).CombinedOutput(); err != nil {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	agentNode := startNode(t, agentCfg, agentData)
	// The agent's configuration names no cluster: it logs the one it
	// joined. Its stderr reaches the test through a pipe, so the line
	// may arrive just after the admin socket answers.
	started := regexp.MustCompile(`keyway started: .*`)
	waitFor(t, 5*time.Second, "the agent's start line", func() bool { return started.MatchString(agentNode.logs()) })
	if line := started.FindString(agentNode.logs()); !strings.Contains(line, "cluster=example ") {
		t.Fatalf("the agent does not log the cluster it joined: %q", line)
	}
	if fi, err := os.Stat(filepath.Join(agentData, "agent", "host.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("agent key: %v %v", fi, err)
	}

	home := filepath.Join(dir, "home")
	out, err := kwAs(t, home, "correct horse battery\n", "login", "--proxy="+proxy, "--user=alice", "--ca-pin="+hostPin, "--invite-file="+inviteFile, "--password-stdin")
	if err != nil || !strings.Contains(out, "logged in as: alice") {
		t.Fatalf("first login: %v\n%s", err, out)
	}
	// The agent registers through its tunnel; the listing shows it once
	// it is up.
	waitFor(t, 10*time.Second, "the agent's database to be listed", func() bool {
		out, _ := kwAs(t, home, "", "db", "ls")
		return regexp.MustCompile(`example-postgres\s+orders of the shop\s+postgres\s+env=dev`).MatchString(out)
	})
	out, err = kwAs(t, home, "", "db", "connect", "--db-user=postgres", "--db-name=postgres", "example-postgres", "--", "-Atc", "select current_user")
	if err != nil || strings.TrimSpace(out) != "postgres" {
		t.Fatalf("db connect: %v\n%s", err, out)
	}

	t.Run("sessions behind the agent are in the cluster's audit log", func(t *testing.T) {
		waitFor(t, 10*time.Second, "the agent's session events on the auth host", func() bool {
			for _, e := range auditEvents(t, authCfg, "--user=alice", "--type=db.session.start") {
				if e.Success && e.DBService == "example-postgres" && strings.HasPrefix(e.Target, "agent/") {
					return true
				}
			}
			return false
		})
	})
	t.Run("ctrl+c reaches a backend behind the agent", func(t *testing.T) {
		if out, err := kwAs(t, home, "", "db", "login", "example-postgres", "--db-user=postgres", "--db-name=postgres"); err != nil {
			t.Fatalf("db login: %v\n%s", err, out)
		}
		prefix := filepath.Join(home, "db", "alice", "example-postgres", "postgres")
		host, port, _ := strings.Cut(proxy, ":")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=verify-full sslrootcert=%s.cas sslcert=%s.crt sslkey=%s.key", host, port, prefix, prefix, prefix))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close(ctx) }()
		done := make(chan error, 1)
		go func() { _, err := conn.Exec(ctx, "select pg_sleep(30)"); done <- err }()
		waitFor(t, 10*time.Second, "the query to start", func() bool {
			return pg.SQL(t, "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'") == "1"
		})
		if err := conn.PgConn().CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if state, _ := sqlState(t, err); state != "57014" {
				t.Fatalf("query after cancel: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the cancel did not reach the backend behind the agent")
		}
	})
	t.Run("db env lets any libpq client connect", func(t *testing.T) {
		out, err := kwAs(t, home, "", "db", "env", "example-postgres", "--db-user=postgres", "--db-name=postgres")
		if err != nil {
			t.Fatalf("db env: %v\n%s", err, out)
		}
		env := os.Environ()
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			env = append(env, strings.TrimPrefix(line, "export "))
		}
		psql := exec.Command("psql", "-X", "-Atc", "select current_user")
		psql.Env = env
		b, err := psql.CombinedOutput()
		if err != nil || strings.TrimSpace(string(b)) != "postgres" {
			t.Fatalf("psql with the db env settings: %v\n%s\nsettings:\n%s", err, b, out)
		}
	})
	t.Run("proxy db serves clients without certificates on loopback", func(t *testing.T) {
		cmd := exec.Command(built.keyway, "proxy", "db", "--port=0", "example-postgres", "--db-user=postgres")
		cmd.Env = append(os.Environ(), "KEYWAY_HOME="+home)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("proxy db printed %q: %v", line, err)
		}
		m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) as`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("proxy db printed %q", line)
		}
		out, err := pgtest.Psql("host=127.0.0.1 port="+m[1]+" user=postgres dbname=postgres sslmode=disable", "select current_user")
		if err != nil || out != "postgres" {
			t.Fatalf("psql through proxy db: %q, %v", out, err)
		}
		if out, err := kwAs(t, home, "", "proxy", "db", "--bind=0.0.0.0", "example-postgres", "--db-user=postgres"); err == nil || !strings.Contains(out, "loopback addresses only") {
			t.Fatalf("proxy db on a public address: %v\n%s", err, out)
		}
	})
	t.Run("an editor administers remotely; others are refused", func(t *testing.T) {
		out, err := kwAs(t, home, "", "users", "ls")
		if err == nil || !strings.Contains(out, "error: keyway: no role of alice allows admin") {
			t.Fatalf("users ls by alice without the editor role: %v\n%s", err, out)
		}
		kw(t, "users", "update", "alice", "--roles=access,editor", "-c", authCfg)
		if out, err := kwAs(t, home, "correct horse battery\n", "login", "--proxy="+proxy, "--user=alice", "--ca-pin="+hostPin, "--password-stdin"); err != nil {
			t.Fatalf("login: %v\n%s", err, out)
		}
		out, err = kwAs(t, home, "", "users", "ls")
		if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "access,editor") {
			t.Fatalf("users ls by an editor through the proxy: %v\n%s", err, out)
		}
		out, err = kwAs(t, home, "", "tokens", "add", "--type=db", "--db-names=*", "--format=text")
		if err != nil || !strings.HasPrefix(out, "kw1.") {
			t.Fatalf("tokens add by an editor through the proxy: %v\n%s", err, out)
		}
		kw(t, "users", "update", "alice", "--roles=access", "-c", authCfg)
	})
	t.Run("access check explains decisions", func(t *testing.T) {
		out := kw(t, "access", "check", "--user=alice", "--db=example-postgres", "--db-user=postgres", "-c", authCfg)
		if !strings.HasPrefix(out, "ALLOW: user alice, database example-postgres, db user postgres") || !strings.Contains(out, `role "access"`) {
			t.Fatalf("access check:\n%s", out)
		}
		kw(t, "users", "update", "alice", "--db-users=app", "-c", authCfg)
		cmd := exec.Command(built.keyway, "access", "check", "--user=alice", "--db=example-postgres", "--db-user=postgres", "-c", authCfg)
		b, err := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 2 || !strings.HasPrefix(string(b), "DENY") || !strings.Contains(string(b), "no role of alice allows") {
			t.Fatalf("access check after the update: %v\n%s", err, b)
		}
		kw(t, "users", "update", "alice", "--db-users=*", "-c", authCfg)
	})
	t.Run("a reused token is refused on both sides", func(t *testing.T) {
		again := filepath.Join(dir, "again.hcl")
		kw(t, "db", "configure", "create", "-o", again, "--token="+tokenFile, "--proxy="+proxy,
			"--name=other", "--uri="+pg.Addr(), "--data-dir="+filepath.Join(dir, "again"))
		out := kwFails(t, "start", "-c", again)
		if !strings.Contains(out, "was already used at") {
			t.Fatalf("second join with the same token:\n%s", out)
		}
	})
	t.Run("an expired or unknown token is refused", func(t *testing.T) {
		expired := filepath.Join(dir, "expired.token")
		if err := os.WriteFile(expired, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "--ttl=1s", "-c", authCfg)), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the token to expire", func() bool {
			return strings.Contains(kw(t, "tokens", "ls", "-c", authCfg), "(expired)")
		})
		cfg := filepath.Join(dir, "late.hcl")
		kw(t, "db", "configure", "create", "-o", cfg, "--token="+expired, "--proxy="+proxy,
			"--name=late", "--uri="+pg.Addr(), "--data-dir="+filepath.Join(dir, "late"))
		if out := kwFails(t, "start", "-c", cfg); !strings.Contains(out, "expired at") {
			t.Fatalf("join with an expired token:\n%s", out)
		}
		unknown := filepath.Join(dir, "unknown.token")
		secret, pin, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(token), "kw1."), ".")
		forged := "kw1." + strings.Repeat("0", len(secret)) + "." + pin
		if err := os.WriteFile(unknown, []byte(forged), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg2 := filepath.Join(dir, "stranger.hcl")
		kw(t, "db", "configure", "create", "-o", cfg2, "--token="+unknown, "--proxy="+proxy,
			"--name=stranger", "--uri="+pg.Addr(), "--data-dir="+filepath.Join(dir, "stranger"))
		if out := kwFails(t, "start", "-c", cfg2); !strings.Contains(out, "unknown to this cluster") {
			t.Fatalf("join with an unknown token:\n%s", out)
		}
	})
	t.Run("the invite works once", func(t *testing.T) {
		out, err := kwAs(t, filepath.Join(dir, "home2"), "another password!\n", "login", "--proxy="+proxy, "--user=alice", "--ca-pin="+hostPin, "--invite-file="+inviteFile, "--password-stdin")
		if err == nil || !strings.Contains(out, "invite is not valid") {
			t.Fatalf("reusing the invite: %v\n%s", err, out)
		}
	})
	t.Run("a wrong pin is refused before anything is sent", func(t *testing.T) {
		out, err := kwAs(t, filepath.Join(dir, "home3"), "correct horse battery\n", "login", "--proxy="+proxy, "--user=alice", "--ca-pin=sha256:"+strings.Repeat("0", 64), "--password-stdin")
		if err == nil || !strings.Contains(out, "does not match the expected pin") {
			t.Fatalf("wrong pin: %v\n%s", err, out)
		}
	})
	t.Run("repeated failed logins lock the account", func(t *testing.T) {
		// The caller hears the same sentence for a wrong password and a
		// locked account; only the audit log tells of the lock.
		const failed = "the user name, password or invite is not valid"
		for i := range 5 {
			out, err := kwAs(t, filepath.Join(dir, "home4"), "not the password\n", "login", "--proxy="+proxy, "--user=alice", "--ca-pin="+hostPin, "--password-stdin")
			if err == nil || !strings.Contains(out, failed) {
				t.Fatalf("failed login %d: %v\n%s", i+1, err, out)
			}
		}
		out, err := kwAs(t, filepath.Join(dir, "home4"), "correct horse battery\n", "login", "--proxy="+proxy, "--user=alice", "--ca-pin="+hostPin, "--password-stdin")
		if err == nil || !strings.Contains(out, failed) {
			t.Fatalf("the right password while locked: %v\n%s", err, out)
		}
		waitFor(t, 10*time.Second, "the lock and the refused login to be audited", func() bool {
			locks := auditEvents(t, authCfg, "--user=alice", "--type="+audit.UserLocked)
			logins := auditEvents(t, authCfg, "--user=alice", "--type="+audit.AuthLogin)
			return len(locks) == 1 && strings.Contains(locks[0].Reason, "the account is locked until") &&
				len(logins) > 0 && !logins[len(logins)-1].Success && strings.Contains(logins[len(logins)-1].Reason, "the account is locked until")
		})
	})
}
