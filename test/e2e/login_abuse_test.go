package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// errorLine is the line of the CLI's output that states its error.
func errorLine(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "error: ") {
			return line
		}
	}
	return ""
}

// TestLoginsAnswerAlikeAndFloodsAreLimited: an unknown user, a user
// without a password yet, a locked user, a wrong password and another
// user's invite get one answer, and only the audit log tells them
// apart; a flood of logins from one address is refused with a sentence
// (default auth { login_rate }) while psql through the proxy goes on.
func TestLoginsAnswerAlikeAndFloodsAreLimited(t *testing.T) {
	a := startAllInOne(t)
	hostPin := pinOf(kw(t, "status", "-c", a.cfg), "host")
	invites := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		added := kw(t, "users", "add", name, "--roles=access", "--db-users=*", "--db-names=*", "-c", a.cfg)
		m := regexp.MustCompile(`(?m)^\s+([0-9a-f]{32})$`).FindStringSubmatch(added)
		if m == nil {
			t.Fatalf("no invite for %s:\n%s", name, added)
		}
		invites[name] = a.path(name + ".invite")
		if err := os.WriteFile(invites[name], []byte(m[1]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user, stdin string, extra ...string) (string, error) {
		args := append([]string{"login", "--proxy=" + a.proxy, "--user=" + user, "--ca-pin=" + hostPin, "--password-stdin"}, extra...)
		return kwAs(t, t.TempDir(), stdin, args...)
	}
	for _, name := range []string{"alice", "carol"} {
		if out, err := login(name, "correct horse battery\n", "--invite-file="+invites[name]); err != nil {
			t.Fatalf("first login of %s: %v\n%s", name, err, out)
		}
	}
	for range 5 {
		if out, err := login("carol", "not the password\n"); err == nil {
			t.Fatalf("a wrong password was accepted:\n%s", out)
		}
	}

	tests := []struct {
		name, user, stdin string
		extra             []string
		reason            string
	}{
		{"unknown user", "nobody", "correct horse battery\n", nil, "no such user"},
		{"no password yet", "bob", "correct horse battery\n", nil, "the account has no password yet"},
		{"locked, right password", "carol", "correct horse battery\n", nil, "the account is locked until"},
		{"wrong password", "alice", "not the password\n", nil, "wrong password"},
	}
	var first string
	for _, tt := range tests {
		out, err := login(tt.user, tt.stdin, tt.extra...)
		line := errorLine(out)
		if err == nil || !strings.Contains(line, "the user name, password or invite is not valid") {
			t.Fatalf("%s: %v\n%s", tt.name, err, out)
		}
		if first == "" {
			first = line
		} else if line != first {
			t.Fatalf("%s answers %q, unlike %q", tt.name, line, first)
		}
	}
	// Another user's invite: the same sentence, without the hint about
	// first logins that only password logins carry.
	out, err := login("dave", "a long enough password\n", "--invite-file="+invites["bob"])
	if err == nil || errorLine(out) != "error: the user name, password or invite is not valid" {
		t.Fatalf("another user's invite: %v\n%s", err, out)
	}

	var all string
	defer func() {
		if t.Failed() {
			t.Logf("failed logins audited:\n%s", all)
		}
	}()
	waitFor(t, 10*time.Second, "the failed logins' reasons to be audited", func() bool {
		var reasons []string
		for _, e := range auditEvents(t, a.cfg, "--type="+audit.AuthLogin) {
			if !e.Success && strings.HasPrefix(e.ClientAddr, "127.0.0.1:") {
				reasons = append(reasons, e.User+": "+e.Reason)
			}
		}
		all = strings.Join(reasons, "\n")
		for _, tt := range tests {
			if !strings.Contains(all, tt.user+": "+tt.reason) {
				return false
			}
		}
		return strings.Contains(all, "dave: the invite is not this user's")
	})
	locks := auditEvents(t, a.cfg, "--type="+audit.UserLocked, "--user=carol")
	if len(locks) != 1 || locks[0].Target != "carol" {
		t.Fatalf("user.locked events: %+v", locks)
	}

	// A flood: 30 parallel logins from one address, while a psql session
	// through the proxy runs statements.
	files := a.userFiles(t, "erin", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	conn, err := a.pgxConnect(t, files, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var wg sync.WaitGroup
	outs := make([]string, 30)
	for i := range outs {
		wg.Go(func() { outs[i], _ = login("alice", "not the password\n") })
	}
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var one int
		err := conn.QueryRow(ctx, "select 1").Scan(&one)
		cancel()
		if err != nil || one != 1 {
			t.Fatalf("a statement during the flood: %v", err)
		}
	}
	if out, err := pgtest.Psql(a.connString(files, "postgres", "postgres"), "select 'still here'"); err != nil || out != "still here" {
		t.Fatalf("a new psql session during the flood: %q, %v", out, err)
	}
	wg.Wait()
	refused := 0
	for _, out := range outs {
		line := errorLine(out)
		switch {
		case regexp.MustCompile(`^error: too many login attempts from 127\.0\.0\.1; try again in [0-9]+ s$`).MatchString(line):
			refused++
		case strings.Contains(line, "the user name, password or invite is not valid"):
		default:
			t.Fatalf("a login of the flood: %s", out)
		}
	}
	if refused < 10 {
		t.Fatalf("%d of 30 logins refused, want at least 10 over the default burst of 20", refused)
	}
	_, metrics := get(t, "http://"+a.diag+"/metrics")
	if v, ok := metricValue(metrics, `keyway_api_rate_limited{limit="login"}`); !ok || v < float64(refused) {
		t.Fatalf("keyway_api_rate_limited{limit=\"login\"} = %v (%v), want at least %d", v, ok, refused)
	}
	waitFor(t, 10*time.Second, "the refusals to be audited", func() bool {
		return len(auditEvents(t, a.cfg, "--type="+audit.APIRateLimited)) > 0
	})
	limited := auditEvents(t, a.cfg, "--type="+audit.APIRateLimited)
	if len(limited) != 1 || limited[0].Success || !strings.HasPrefix(limited[0].ClientAddr, "127.0.0.1:") ||
		!strings.Contains(limited[0].Error, "too many login attempts from 127.0.0.1") {
		t.Fatalf("%d refusals audited as %+v, want one event for the minute", refused, limited)
	}

	// The address limited is the client's own, as the proxy accepted it:
	// a client from 127.0.0.2 has a budget of its own, and hears its own
	// address when it runs out.
	if msg := loginUntilRefused(t, a, "127.0.0.2"); !strings.HasPrefix(msg, "too many login attempts from 127.0.0.2; try again in ") {
		t.Fatalf("refusal of 127.0.0.2: %q", msg)
	}
}

// loginUntilRefused logs in as an unknown user from the local address
// from, through the proxy, until the cluster refuses with
// ResourceExhausted, and returns the refusal's message.
func loginUntilRefused(t *testing.T, a *allInOne, from string) string {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(mustRead(t, a.export(t, "host"))) {
		t.Fatal("no host authority to trust")
	}
	host, _, _ := strings.Cut(a.proxy, ":")
	cfg := &tls.Config{RootCAs: pool, ServerName: host, NextProtos: []string{tunnel.ALPNAPI}, MinVersion: tls.VersionTLS12}
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}}
		return d.DialContext(ctx, "tcp", a.proxy)
	}
	conn, err := grpc.NewClient("passthrough:///"+a.proxy, grpc.WithContextDialer(dial), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	client := apiv1.NewAuthClient(conn)
	for i := range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := client.Login(ctx, &apiv1.LoginRequest{User: "nobody", Password: "not the password"})
		cancel()
		switch status.Code(err) {
		case codes.ResourceExhausted:
			if i < 15 {
				t.Fatalf("refused after only %d logins from %s, which had a budget of its own: %v", i, from, err)
			}
			return status.Convert(err).Message()
		case codes.Unauthenticated:
		default:
			t.Fatalf("login from %s: %v", from, err)
		}
	}
	t.Fatalf("40 logins from %s in a row were not refused", from)
	return ""
}
