package agent

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// sslRequestCode is PostgreSQL's SSLRequest.
const sslRequestCode = 80877103

// CheckPostgres is a protocol-level health check: the server must accept
// a TCP connection and answer an SSLRequest with S or N, as only a live
// postmaster does.
func CheckPostgres(ctx context.Context, addr string) error {
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
	if answer[0] != 'S' && answer[0] != 'N' {
		return fmt.Errorf("answered SSLRequest with %q: not PostgreSQL", answer[0])
	}
	return nil
}
