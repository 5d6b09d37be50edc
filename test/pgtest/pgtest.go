// Package pgtest starts a real PostgreSQL server for tests: its own data
// directory, TLS on, client-certificate authentication over TCP, run as a
// non-root user (the server refuses root; as root the harness switches to
// the "postgres" user).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Options say how to configure the server.
type Options struct {
	// CertFile, KeyFile: the server's certificate and key.
	CertFile, KeyFile string
	// CAFile holds the CAs whose client certificates the server trusts.
	CAFile string
	// HBA lines replace the default "hostssl all all 127.0.0.1/32 cert".
	HBA []string
	// Settings are extra server settings, NAME to VALUE, passed as
	// "-c NAME=VALUE" after the defaults so they override them (for
	// example max_connections, whose default here is 200).
	Settings map[string]string
}

// Server is a running PostgreSQL.
type Server struct {
	Host string
	Port int
	// SocketDir is the Unix socket directory; connections over it are
	// trusted, for setting up roles and tables.
	SocketDir string
	bin       string
	dir       string
	cred      *syscall.Credential
	cmd       *exec.Cmd
	exited    chan struct{}
	log       string
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(s.log); err == nil {
				t.Logf("PostgreSQL log:\n%s", b)
			}
		}
		s.Stop()
	})
	return s
}

// BinDir finds PostgreSQL's server binaries, newest version first.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server found (install postgresql-15)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// New starts a server outside a test, for programs such as benchmarks;
// the caller stops it with Stop.
func New(opts Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "keyway-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", SocketDir: dir, bin: bin, dir: dir, log: filepath.Join(dir, "postgres.log"), exited: make(chan struct{})}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	if err := s.prepare(opts); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.run(opts.Settings); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// postgresUser returns the credentials of the "postgres" user.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepare runs initdb and writes the TLS files and pg_hba.conf.
func (s *Server) prepare(opts Options) error {
	data := filepath.Join(s.dir, "data")
	if err := s.chown(s.dir); err != nil {
		return err
	}
	if out, err := s.command(filepath.Join(s.bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for _, f := range []struct{ src, dst string }{
		{opts.CertFile, "server.crt"}, {opts.KeyFile, "server.key"}, {opts.CAFile, "ca.crt"},
	} {
		b, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		dst := filepath.Join(data, f.dst)
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return err
		}
		if err := s.chown(dst); err != nil {
			return err
		}
	}
	hba := opts.HBA
	if len(hba) == 0 {
		hba = []string{"hostssl all all 127.0.0.1/32 cert"}
	}
	hbaText := "local all all trust\n" + strings.Join(hba, "\n") + "\n"
	return os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hbaText), 0o600)
}

// run starts the server on a free port and waits until it accepts
// connections.
func (s *Server) run(settings map[string]string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	args := []string{
		"-D", filepath.Join(s.dir, "data"),
		"-c", "listen_addresses=" + s.Host,
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + s.SocketDir,
		"-c", "ssl=on",
		"-c", "ssl_cert_file=server.crt",
		"-c", "ssl_key_file=server.key",
		"-c", "ssl_ca_file=ca.crt",
		"-c", "fsync=off",
		"-c", "max_connections=200",
	}
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, "-c", name+"="+settings[name])
	}
	s.cmd = s.command(filepath.Join(s.bin, "postgres"), args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	return s.waitReady(30 * time.Second)
}

func (s *Server) waitReady(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		out, err := exec.CommandContext(ctx, filepath.Join(s.bin, "pg_isready"), "-h", s.SocketDir, "-p", strconv.Itoa(s.Port), "-U", "postgres").CombinedOutput()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("postgres exited during start:\n%s", b)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready after %s: %s", within, bytes.TrimSpace(out))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// SQL runs statements as the postgres superuser over the trusted Unix
// socket and returns psql's unaligned output.
func (s *Server) SQL(t testing.TB, sql string) string {
	t.Helper()
	out, err := s.Exec(sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Exec is SQL outside a test: it runs statements as the postgres
// superuser over the trusted Unix socket and returns psql's unaligned
// output, or an error that carries psql's output.
func (s *Server) Exec(sql string) (string, error) {
	cmd := exec.Command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", s.SocketDir, "-p", strconv.Itoa(s.Port), "-U", "postgres", "-d", "postgres", "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q: %w\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Credential is the user the server runs as: the "postgres" user when
// the harness runs as root, nil otherwise. Programs that refuse to run as
// root next to the server, such as pgbouncer, can run as it too.
func (s *Server) Credential() *syscall.Credential { return s.cred }

// Log returns what the server has written to its log so far.
func (s *Server) Log() (string, error) {
	b, err := os.ReadFile(s.log)
	return string(b), err
}

// Addr is the server's TCP address.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Restart stops the server and starts it again on the same port.
func (s *Server) Restart() error {
	s.Halt()
	return s.Resume()
}

// Halt stops the server (a fast shutdown: sessions are ended) and keeps
// its files, so that Resume can start it again.
func (s *Server) Halt() { s.stopProcess() }

// Resume starts a halted server again on the same port and waits until it
// accepts connections.
func (s *Server) Resume() error {
	select {
	case <-s.exited:
	default:
		return errors.New("pgtest: the server is running")
	}
	s.exited = make(chan struct{})
	logf, err := os.OpenFile(s.log, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	args := s.cmd.Args[1:]
	s.cmd = s.command(s.cmd.Path, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	return s.waitReady(30 * time.Second)
}

// Stop shuts the server down and removes its files.
func (s *Server) Stop() {
	s.stopProcess()
	_ = os.RemoveAll(s.dir)
}

func (s *Server) stopProcess() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// command runs a server program as the postgres user when we are root.
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

// ReplaceCAFile installs new client CAs (ssl_ca_file) and reloads the
// server's configuration. The reload is asynchronous: callers wait for its
// effect.
func (s *Server) ReplaceCAFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dst := filepath.Join(s.dir, "data", "ca.crt")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		return err
	}
	if err := s.chown(dst); err != nil {
		return err
	}
	return s.cmd.Process.Signal(syscall.SIGHUP)
}

// ReplaceServerCert installs a new server certificate and key
// (ssl_cert_file, ssl_key_file) and reloads the server's configuration.
// The reload is asynchronous: callers wait for its effect.
func (s *Server) ReplaceServerCert(certFile, keyFile string) error {
	for _, f := range []struct{ src, dst string }{{certFile, "server.crt"}, {keyFile, "server.key"}} {
		b, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		dst := filepath.Join(s.dir, "data", f.dst)
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return err
		}
		if err := s.chown(dst); err != nil {
			return err
		}
	}
	return s.cmd.Process.Signal(syscall.SIGHUP)
}

// ConnString returns a libpq connection string for user over TLS with a
// client certificate, verifying the server against rootCA.
func (s *Server) ConnString(user, dbname, rootCA, cert, key string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s connect_timeout=10",
		s.Host, s.Port, user, dbname, rootCA, cert, key)
}

// Psql runs one statement with psql over conn and returns its unaligned
// output and error.
func Psql(conn, sql string) (string, error) {
	out, err := exec.Command("psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", conn, "-c", sql).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
