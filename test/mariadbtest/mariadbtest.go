// Package mariadbtest starts a real MariaDB server for tests: its own data
// directory, TLS with the given server certificate and client CAs, on a
// loopback port, run as the "mysql" user when the harness runs as root.
// Database users log in with client certificates: Users creates them with
// REQUIRE SUBJECT '/CN=NAME', the way a keyway cluster's db-client
// certificates name them.
package mariadbtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Programs of Debian's mariadb-server and mariadb-client packages.
const (
	serverBin  = "/usr/sbin/mariadbd"
	installBin = "/usr/bin/mariadb-install-db"
	clientBin  = "mariadb"
	adminBin   = "mariadb-admin"
)

// Options say how to configure the server.
type Options struct {
	// CertFile, KeyFile: the server's certificate and key.
	CertFile, KeyFile string
	// CAFile holds the CAs whose client certificates the server trusts.
	CAFile string
	// RequireTLS refuses connections over TCP without TLS
	// (require_secure_transport).
	RequireTLS bool
}

// Server is a running MariaDB.
type Server struct {
	Host string
	Port int
	// Socket is the Unix socket; root logs in over it without a password,
	// for setting up users and tables.
	Socket string
	dir    string
	log    string
	cred   *syscall.Credential
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("starting MariaDB: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(s.log); err == nil {
				t.Logf("MariaDB log:\n%s", b)
			}
		}
		s.Stop()
	})
	return s
}

// Installed reports whether the server and client programs are here.
func Installed() error {
	for _, p := range []string{serverBin, installBin} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s not found: install mariadb-server", p)
		}
	}
	for _, p := range []string{clientBin, adminBin} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%s is not installed: install mariadb-client", p)
		}
	}
	return nil
}

// New starts a server outside a test; the caller stops it with Stop.
func New(opts Options) (*Server, error) {
	if err := Installed(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "keyway-mariadb-")
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Socket: filepath.Join(dir, "mysqld.sock"), dir: dir, log: filepath.Join(dir, "error.log")}
	if os.Geteuid() == 0 {
		if s.cred, err = mysqlUser(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := s.prepare(opts); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.run(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// mysqlUser returns the credentials of the "mysql" user, which Debian's
// package creates.
func mysqlUser() (*syscall.Credential, error) {
	u, err := user.Lookup("mysql")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a mysql user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepare creates the system tables, copies the TLS files in and writes
// the server's option file.
func (s *Server) prepare(opts Options) error {
	if err := s.chown(s.dir); err != nil {
		return err
	}
	tlsFiles := map[string]string{"server.crt": opts.CertFile, "server.key": opts.KeyFile, "ca.crt": opts.CAFile}
	for dst, src := range tlsFiles {
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("reading the TLS file for %s: %w", dst, err)
		}
		path := filepath.Join(s.dir, dst)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
		if err := s.chown(path); err != nil {
			return err
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	cnf := []string{
		"[mariadbd]",
		"datadir=" + filepath.Join(s.dir, "data"),
		"socket=" + s.Socket,
		"pid-file=" + filepath.Join(s.dir, "mysqld.pid"),
		"log-error=" + s.log,
		"bind-address=" + s.Host,
		"port=" + strconv.Itoa(port),
		"ssl-cert=" + filepath.Join(s.dir, "server.crt"),
		"ssl-key=" + filepath.Join(s.dir, "server.key"),
		"ssl-ca=" + filepath.Join(s.dir, "ca.crt"),
		"skip-name-resolve",
		"skip-log-bin",
		"innodb-buffer-pool-size=32M",
		"innodb-log-file-size=16M",
		"innodb-flush-log-at-trx-commit=0",
		"max-connections=200",
	}
	if opts.RequireTLS {
		cnf = append(cnf, "require-secure-transport=ON")
	}
	cnfPath := filepath.Join(s.dir, "my.cnf")
	if err := os.WriteFile(cnfPath, []byte(strings.Join(cnf, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	// root@localhost keeps the unix_socket login and gets an empty
	// password, so any OS user running the tests can set the server up
	// over its socket.
	install := s.command(installBin, "--defaults-file="+cnfPath, "--basedir=/usr",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	return nil
}

// run starts the server and waits until it answers.
func (s *Server) run() error {
	s.exited = make(chan struct{})
	s.cmd = s.command(serverBin, "--defaults-file="+filepath.Join(s.dir, "my.cnf"))
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	return s.waitReady(60 * time.Second)
}

func (s *Server) waitReady(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		out, err := exec.CommandContext(ctx, adminBin, "--no-defaults", "-S", s.Socket, "-u", "root", "ping").CombinedOutput()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("mariadbd exited during start:\n%s", b)
		case <-ctx.Done():
			return fmt.Errorf("mariadbd not ready after %s: %s", within, bytes.TrimSpace(out))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// SQL runs statements as root over the Unix socket and returns the
// client's tab-separated output without column names.
func (s *Server) SQL(t testing.TB, sql string) string {
	t.Helper()
	out, err := s.Exec(sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Exec is SQL outside a test.
func (s *Server) Exec(sql string) (string, error) {
	out, err := exec.Command(clientBin, "--no-defaults", "-S", s.Socket, "-u", "root", "-N", "-B", "-e", sql).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mariadb %q: %w\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// CertUsers creates database users that log in over TLS with a client
// certificate whose subject is exactly CN=NAME, with every privilege on
// every database.
func (s *Server) CertUsers(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		s.SQL(t, fmt.Sprintf("CREATE USER '%[1]s'@'%%' REQUIRE SUBJECT '/CN=%[1]s'; GRANT ALL ON *.* TO '%[1]s'@'%%'", n))
	}
}

// Addr is the server's TCP address.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Log returns what the server has written to its error log so far.
func (s *Server) Log() (string, error) {
	b, err := os.ReadFile(s.log)
	return string(b), err
}

// Stop shuts the server down and removes its files.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	_ = os.RemoveAll(s.dir)
}

// command runs a server program as the mysql user when we are root.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
