package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/test/mariadbtest"
)

// mysqlCluster is an auth and proxy host with a MySQL port, a real
// MariaDB that trusts the cluster, and an agent in its own process that
// serves it with the mysql plugin built outside the core.
type mysqlCluster struct {
	dir, proxy, mysqlPort, authCfg string
	maria                          *mariadbtest.Server
	agent                          *node
}

// mysqlPluginBlock loads the example plugin by path and checksum.
func mysqlPluginBlock(t *testing.T) string {
	return fmt.Sprintf("\nplugin \"mysql\" {\n  command = %q\n  sha256  = %q\n}\n", built.mysql, sha256File(t, built.mysql))
}

// appendTo adds text to a configuration file.
func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func startMySQLCluster(t *testing.T) *mysqlCluster {
	t.Helper()
	if err := mariadbtest.Installed(); err != nil {
		t.Fatal(err)
	}
	c := &mysqlCluster{dir: t.TempDir(), proxy: freeAddr(t), mysqlPort: freeAddr(t)}
	c.authCfg = filepath.Join(c.dir, "auth.hcl")
	authData := filepath.Join(c.dir, "auth")
	kw(t, "configure", "-o", c.authCfg, "--cluster-name=e2e", "--data-dir="+authData, "--listen="+c.proxy)
	cfg := strings.Replace(string(mustRead(t, c.authCfg)), "proxy {\n", fmt.Sprintf("proxy {\n  protocol \"mysql\" {\n    listen = %q\n  }\n", c.mysqlPort), 1)
	if err := os.WriteFile(c.authCfg, []byte(cfg+mysqlPluginBlock(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, c.authCfg, authData)

	server := filepath.Join(c.dir, "server")
	kwSign(t, "auth", "sign", "--format=db", "--host=127.0.0.1", "--out="+server, "-c", c.authCfg)
	dbClientCAs := filepath.Join(c.dir, "db-client.cas")
	if err := os.WriteFile(dbClientCAs, []byte(kw(t, "auth", "export", "--type=db-client", "-c", c.authCfg)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.maria = mariadbtest.Start(t, mariadbtest.Options{CertFile: server + ".crt", KeyFile: server + ".key", CAFile: dbClientCAs, RequireTLS: true})
	c.maria.CertUsers(t, "alice", "bob")
	c.maria.SQL(t, "CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT)")

	token := filepath.Join(c.dir, "token")
	if err := os.WriteFile(token, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", c.authCfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	agentCfg, agentData := filepath.Join(c.dir, "agent.hcl"), filepath.Join(c.dir, "agent")
	kw(t, "db", "configure", "create", "-o", agentCfg, "--token="+token, "--proxy="+c.proxy, "--data-dir="+agentData,
		"--name=shop-mysql", "--protocol=mysql", "--uri="+c.maria.Addr(), "--labels=env=dev")
	appendTo(t, agentCfg, mysqlPluginBlock(t))
	c.agent = startNode(t, agentCfg, agentData)
	return c
}

// files signs certificate files for user, routed to shop-mysql as
// dbUser.
func (c *mysqlCluster) files(t *testing.T, user, dbUser string, roleArgs ...string) string {
	t.Helper()
	out := filepath.Join(c.dir, user+"-"+dbUser)
	kwSign(t, append([]string{"auth", "sign", "--format=files", "--user=" + user, "--route=shop-mysql", "--route-db-user=" + dbUser, "--out=" + out, "-c", c.authCfg}, roleArgs...)...)
	return out
}

// mariadb runs the mariadb client against the proxy's MySQL port with
// the files at prefix (none: without TLS).
func (c *mysqlCluster) mariadb(prefix, user, sqlText string, extra ...string) (string, error) {
	host, port, _ := strings.Cut(c.mysqlPort, ":")
	args := []string{"--no-defaults", "--protocol=TCP", "-h", host, "-P", port, "-u", user, "-N", "-B", "--connect-timeout=10"}
	if prefix != "" {
		args = append(args, "--ssl-ca="+prefix+".cas", "--ssl-cert="+prefix+".crt", "--ssl-key="+prefix+".key", "--ssl-verify-server-cert")
	} else {
		args = append(args, "--skip-ssl")
	}
	args = append(append(args, extra...), "-e", sqlText)
	out, err := exec.Command("mariadb", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestMySQLThroughASeparateAgent: a MariaDB served by the mysql plugin,
// built outside the core against sdk/ only and loaded by checksum into
// the unchanged keyway, gets what PostgreSQL gets: health in db ls,
// keyway db connect running the mariadb client, the proxy's MySQL port
// with the user's certificate, keyway proxy db for any client (the
// mariadb CLI and go-sql-driver/mysql), roles with refusals as MySQL
// ERR packets, statements audited (queries and prepared statements with
// their parameters), KILL QUERY from a second session, and ctrl+c in the
// mariadb client, whose KILL names the connection id keyway gave it.
func TestMySQLThroughASeparateAgent(t *testing.T) {
	c := startMySQLCluster(t)
	home := filepath.Join(c.dir, "home")
	aliceID := filepath.Join(c.dir, "alice.id")
	kwSign(t, "auth", "sign", "--user=alice", "--roles=access", "--db-users=alice", "--db-names=*", "--out="+aliceID, "-c", c.authCfg)
	as := func(args ...string) (string, error) {
		return kwAs(t, home, "", append([]string{"-i", aliceID, "--proxy", c.proxy}, args...)...)
	}

	waitFor(t, 20*time.Second, "shop-mysql to be listed healthy", func() bool {
		db, ok := dbList(t, aliceID, c.proxy)["shop-mysql"]
		return ok && db.GetStatus() == apiserver.StatusHealthy && db.GetProtocol() == "mysql"
	})

	t.Run("db connect runs the mariadb client", func(t *testing.T) {
		out, err := as("db", "connect", "shop-mysql", "--db-user=alice", "--db-name=shop", "--", "-N", "-B", "-e", "select 42, current_user(), database()")
		if err != nil || out != "42\talice@%\tshop\n" {
			t.Fatalf("db connect: %v\n%q", err, out)
		}
	})

	t.Run("the proxy's MySQL port takes the user's certificate", func(t *testing.T) {
		alice := c.files(t, "alice", "alice", "--roles=access", "--db-users=alice", "--db-names=*")
		out, err := c.mariadb(alice, "alice", "select current_user(), @@version", "-D", "shop")
		if err != nil || !strings.HasPrefix(out, "alice@%\t10.11") {
			t.Fatalf("mariadb with a certificate: %v\n%s", err, out)
		}
	})

	t.Run("refusals are ERR packets with keyway's sentence", func(t *testing.T) {
		mallory := c.files(t, "mallory", "alice", "--roles=access", "--db-users=bob", "--db-names=*")
		out, err := c.mariadb(mallory, "alice", "select 1")
		if err == nil || !strings.Contains(out, "ERROR 1045 (28000)") || !strings.Contains(out, "mallory") {
			t.Fatalf("a db user mallory's roles do not allow: %v\n%s", err, out)
		}
		// Roles apply as for PostgreSQL: db_names, and globs in db_users.
		eve := c.files(t, "eve", "alice", "--roles=access", "--db-users=alice", "--db-names=other")
		out, err = c.mariadb(eve, "alice", "select 1", "-D", "shop")
		if err == nil || !strings.Contains(out, "ERROR 1045 (28000)") || !strings.Contains(out, `"shop"`) {
			t.Fatalf("a logical database eve's roles do not allow: %v\n%s", err, out)
		}
		glob := c.files(t, "gus", "alice", "--roles=access", "--db-users=ali*", "--db-names=*")
		if out, err := c.mariadb(glob, "alice", "select current_user()", "-D", "shop"); err != nil || out != "alice@%" {
			t.Fatalf("a db user allowed by a glob: %v\n%s", err, out)
		}
		out, err = c.mariadb("", "alice", "select 1")
		if err == nil || !strings.Contains(out, "ERROR 1045 (28000)") || !strings.Contains(out, "only over TLS") {
			t.Fatalf("a client without TLS: %v\n%s", err, out)
		}
	})

	t.Run("roles by labels and traits", func(t *testing.T) {
		roles := filepath.Join(c.dir, "mysql-roles.hcl")
		if err := os.WriteFile(roles, []byte(`role "mysql-dev" {
  allow {
    db_labels = { env = ["dev"] }
    db_users  = ["{{internal.db_users}}"]
    db_names  = ["shop"]
  }
}
role "mysql-prod" {
  allow {
    db_labels = { env = ["prod"] }
    db_users  = ["*"]
    db_names  = ["*"]
  }
}
`), 0o600); err != nil {
			t.Fatal(err)
		}
		kw(t, "create", "-f", roles, "-c", c.authCfg)
		// carol's stored traits name the db user alice; dave's role
		// reaches only databases labelled env=prod.
		kw(t, "users", "add", "carol", "--roles=mysql-dev", "--db-users=alice", "-c", c.authCfg)
		kw(t, "users", "add", "dave", "--roles=mysql-prod", "--db-users=alice", "-c", c.authCfg)
		if out, err := c.mariadb(c.files(t, "carol", "alice"), "alice", "select current_user()", "-D", "shop"); err != nil || out != "alice@%" {
			t.Fatalf("carol as the db user her traits name: %v\n%s", err, out)
		}
		for _, tt := range []struct{ user, dbUser, why string }{
			{"carol", "bob", "a db user her traits do not name"},
			{"dave", "alice", "a database outside his role's labels"},
		} {
			out, err := c.mariadb(c.files(t, tt.user, tt.dbUser), tt.dbUser, "select 1", "-D", "shop")
			if err == nil || !strings.Contains(out, "ERROR 1045 (28000)") || !strings.Contains(out, tt.user) {
				t.Fatalf("%s, %s: %v\n%s", tt.user, tt.why, err, out)
			}
		}
	})

	port := startProxyDB(t, home, "shop-mysql", "--db-user=alice", "--db-name=shop", "-i", aliceID, "--proxy", c.proxy)
	t.Run("proxy db serves the mariadb client", func(t *testing.T) {
		out, err := exec.Command("mariadb", "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", port, "-u", "alice", "-D", "shop", "-N", "-B", "-e", "select 'through proxy db', current_user()").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "through proxy db\talice@%" {
			t.Fatalf("mariadb through proxy db: %v\n%s", err, out)
		}
	})

	dsn := mysql.NewConfig()
	dsn.User, dsn.Net, dsn.Addr, dsn.DBName, dsn.Timeout = "alice", "tcp", "127.0.0.1:"+port, "shop", 10*time.Second
	db, err := sql.Open("mysql", dsn.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	t.Run("go-sql-driver/mysql with prepared statements", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "insert into items values (?, ?)", 7, "widget"); err != nil {
			t.Fatal(err)
		}
		var name string
		if err := db.QueryRowContext(ctx, "select name from items where id = ?", 7).Scan(&name); err != nil || name != "widget" {
			t.Fatalf("select: %v %q", err, name)
		}
		_, err := db.ExecContext(ctx, "insert into items values (?, ?)", 7, "again")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1062 {
			t.Fatalf("a duplicate key: %v", err)
		}
	})

	t.Run("KILL QUERY from a second session", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		var id int64
		if err := conn.QueryRowContext(ctx, "select connection_id()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		began := time.Now()
		go func() {
			var v int
			done <- conn.QueryRowContext(ctx, "select sleep(30)").Scan(&v)
		}()
		waitFor(t, 10*time.Second, "the sleep to run", func() bool {
			var n int
			_ = db.QueryRowContext(ctx, "select count(*) from information_schema.processlist where info like 'select sleep(30)%'").Scan(&n)
			return n > 0
		})
		if _, err := db.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			if time.Since(began) > 20*time.Second {
				t.Fatal("the sleep ran its course: KILL QUERY did not reach it")
			}
		case <-time.After(20 * time.Second):
			t.Fatal("KILL QUERY did not end the sleep")
		}
	})

	t.Run("ctrl+c in the mariadb client kills the query", func(t *testing.T) {
		cmd := exec.Command("mariadb", "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", port, "-u", "alice", "-D", "shop", "--sigint-ignore=false", "-e", "select sleep(30)")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		waitFor(t, 10*time.Second, "the sleep to run", func() bool {
			var n int
			_ = db.QueryRow("select count(*) from information_schema.processlist where info like 'select sleep(30)%'").Scan(&n)
			return n > 0
		})
		began := time.Now()
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("the mariadb client still runs 20 s after ctrl+c:\n%s", out.String())
		}
		t.Logf("the mariadb client ended %s after ctrl+c: %s", time.Since(began).Round(time.Millisecond), strings.TrimSpace(out.String()))
		var n int
		if err := db.QueryRow("select count(*) from information_schema.processlist where info like 'select sleep(30)%'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("the sleep still runs after ctrl+c (%d, %v)", n, err)
		}
	})

	t.Run("sessions and statements are audited", func(t *testing.T) {
		waitFor(t, 15*time.Second, "the statements in the audit log", func() bool {
			var insert, query, start bool
			for _, e := range auditEvents(t, c.authCfg, "--user=alice") {
				switch {
				case e.Event == "db.session.start" && e.Success && e.DBService == "shop-mysql" && e.DBProtocol == "mysql":
					start = true
				case e.Event == "db.session.statement" && e.Query == "insert into items values (?, ?)" && strings.Join(e.Parameters, ",") == "7,widget" && e.RowsAffected == 1:
					insert = true
				case e.Event == "db.session.query" && strings.Contains(e.Query, "select 42"):
					query = true
				}
			}
			return insert && query && start
		})
		var dup bool
		for _, e := range auditEvents(t, c.authCfg, "--user=alice", "--type=db.session.statement") {
			if strings.Join(e.Parameters, ",") == "7,again" && !e.Success && strings.Contains(e.Error, "1062") {
				dup = true
			}
		}
		if !dup {
			t.Fatal("the failed insert is not in the audit log with its error")
		}
	})
}
