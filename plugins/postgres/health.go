package postgres

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
	"github.com/keyway-dev/keyway/sdk/dbsession"
)

// checkTimeout bounds one health check.
const checkTimeout = 3 * time.Second

// CheckDatabase checks a database the way a session connects: the server
// must accept a TCP connection, answer an SSLRequest with S (a server that
// refuses TLS, answering N, cannot serve keyway sessions), and complete a
// TLS handshake in which its certificate is verified with the database's
// trust, so that a wrong CA or server name shows as unhealthy. The
// connection then ends with a TLS close_notify before any startup packet,
// which PostgreSQL does not log.
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
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], codeSSLRequest)
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
