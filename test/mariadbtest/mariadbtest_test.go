package mariadbtest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// TestCertificateLogins: a user created by CertUsers logs in over TLS
// with a certificate whose subject is CN=NAME, and only with it.
func TestCertificateLogins(t *testing.T) {
	files := pgtest.WriteTLSFiles(t, "alice", "mallory")
	s := Start(t, Options{CertFile: files.ServerCert, KeyFile: files.ServerKey, CAFile: files.CA, RequireTLS: true})
	s.CertUsers(t, "alice")
	s.SQL(t, "CREATE USER 'open'@'%'")
	if got := s.SQL(t, "select 40 + 2"); got != "42" {
		t.Fatalf("select over the socket = %q", got)
	}
	client := func(user, certCN string, extra ...string) (string, error) {
		args := []string{"--no-defaults", "-h", s.Host, "-P", strconv.Itoa(s.Port), "-u", user, "-N", "-B"}
		if certCN != "" {
			cert, key := files.Client(certCN)
			args = append(args, "--ssl-ca="+files.CA, "--ssl-cert="+cert, "--ssl-key="+key, "--ssl-verify-server-cert")
		}
		args = append(args, extra...)
		args = append(args, "-e", "select current_user(), variable_value != '' from information_schema.session_status where variable_name = 'Ssl_cipher'")
		out, err := exec.Command(clientBin, args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	tests := []struct {
		name, user, cert string
		extra            []string
		want             string // output, or part of the error
		ok               bool
	}{
		{"own certificate", "alice", "alice", nil, "alice@%\t1", true},
		{"another subject", "alice", "mallory", nil, "Access denied", false},
		{"no TLS", "alice", "", []string{"--skip-ssl"}, "Access denied", false},
		// require_secure_transport: a user without requirements is
		// refused without TLS, and logs in with it.
		{"no TLS for a user without requirements", "open", "", []string{"--skip-ssl"}, "Access denied", false},
		{"TLS for a user without requirements", "open", "", []string{"--ssl-ca=" + files.CA, "--ssl-verify-server-cert"}, "open@%\t1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client(tt.user, tt.cert, tt.extra...)
			if (err == nil) != tt.ok || !strings.Contains(out, tt.want) {
				t.Fatalf("mariadb as %s with certificate %q: err=%v, output %q; want ok=%v and %q", tt.user, tt.cert, err, out, tt.ok, tt.want)
			}
		})
	}
}
