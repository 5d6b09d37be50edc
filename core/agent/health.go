package agent

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// sslRequestCode is PostgreSQL's SSLRequest.
const sslRequestCode = 80877103

// CheckPostgres is a protocol-level health check of the way keyway itself
// connects: the server must accept a TCP connection, answer an SSLRequest
// with S (a postmaster that refuses TLS, answering N, cannot serve keyway
// sessions), and complete a TLS handshake. With trust, the server's
// certificate is verified as a session's would be (chain, and name in
// verify-full), so a wrong CA or server name shows as unhealthy; without
// it, the handshake is completed unverified. The connection is then
// closed with a TLS close_notify before any startup packet, which
// PostgreSQL does not log.
func CheckPostgres(ctx context.Context, addr string, trust *sdk.ServerTrust) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(deadline)
	}
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], sslRequestCode)
	if _, err := c.Write(req[:]); err != nil {
		return err
	}
	var answer [1]byte
	if _, err := io.ReadFull(c, answer[:]); err != nil {
		return fmt.Errorf("no answer to SSLRequest: %w", err)
	}
	switch answer[0] {
	case 'S':
	case 'N':
		return errors.New("the server refuses TLS (it answered N to SSLRequest); set ssl = on")
	default:
		return fmt.Errorf("answered SSLRequest with %q: not PostgreSQL", answer[0])
	}
	// Unverified only when no trust is known (see above).
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if trust != nil {
		if cfg, err = trust.ClientConfig(addr, tls.Certificate{}); err != nil {
			return fmt.Errorf("TLS with the server: %w", err)
		}
		// The check presents no client certificate; PostgreSQL asks for
		// one at authentication, which the check never reaches.
		cfg.Certificates = nil
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS with the server: %w", err)
	}
	return tc.Close()
}
