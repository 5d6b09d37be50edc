package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/dbsession"
)

// Spec declares the MySQL protocol: the server speaks first, so clients
// reach the proxy on a port of their own, where the plugin greets them
// and they ask for TLS. keyway db connect runs the mariadb client.
func (*Plugin) Spec() sdk.ProtocolSpec {
	return sdk.ProtocolSpec{
		Names:   []string{"mysql"},
		OwnPort: true,
		Client: sdk.ClientSpec{
			Command: "mariadb",
			Args: []string{
				"--protocol=TCP", "--host={{.Host}}", "--port={{.Port}}", "--user={{.DBUser}}",
				"{{if .DBName}}--database={{.DBName}}{{end}}",
				"{{if .CertFile}}--ssl-ca={{.CAFile}}{{end}}",
				"{{if .CertFile}}--ssl-cert={{.CertFile}}{{end}}",
				"{{if .CertFile}}--ssl-key={{.KeyFile}}{{end}}",
				"{{if .CertFile}}--ssl-verify-server-cert{{end}}",
			},
			Env: map[string]string{"MYSQL_HOST": "{{.Host}}", "MYSQL_TCP_PORT": "{{.Port}}"},
			Config: `Host:          {{.Host}}
Port:          {{.Port}}
User:          {{.DBUser}}
Database:      {{.DBName}}
{{- if .CertFile}}
TLS:           required, verify the server
CA:            {{.CAFile}}
Certificate:   {{.CertFile}}
Key:           {{.KeyFile}}
Go DSN:        {{.DBUser}}@tcp({{.Host}}:{{.Port}})/{{.DBName}}?tls=keyway (a tls.Config with the files above)
{{- else}}
TLS:           off (keyway proxy db encrypts the way to the proxy)
Go DSN:        {{.DBUser}}@tcp({{.Host}}:{{.Port}})/{{.DBName}}
{{- end}}
`,
			Install: "apt-get install mariadb-client",
		},
	}
}

// checkTimeout bounds one health check.
const checkTimeout = 3 * time.Second

// CheckDatabase checks a database the way a session connects: the server
// must greet, offer TLS and complete a TLS handshake in which its
// certificate is verified with the database's trust. The check then
// closes the connection without logging in.
func (*Plugin) CheckDatabase(ctx context.Context, db *sdk.Database) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", db.URI)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(deadline)
	}
	r := wire.NewReader(c)
	r.Limit = maxLoginPacket
	p, err := r.Next()
	if err != nil {
		return fmt.Errorf("no greeting from the server: %w", err)
	}
	g, err := wire.ParseGreeting(p.Payload)
	if err != nil {
		return fmt.Errorf("the server's greeting: %w", err)
	}
	if g.Capabilities&wire.ClientSSL == 0 {
		return errors.New("the server does not offer TLS; configure ssl_cert, ssl_key and ssl_ca")
	}
	req := wire.Login{Capabilities: wire.ClientProtocol41 | wire.ClientSSL | wire.ClientSecureConnection, MaxPacketSize: 1 << 24, Charset: g.Charset, SSLRequest: true}
	if _, err := wire.WritePacket(c, p.Seq+1, req.Append(nil)); err != nil {
		return err
	}
	cfg, err := dbsession.CheckTLS(db)
	if err != nil {
		return err
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS with the server: %w", err)
	}
	return tc.Close()
}
