package postgres

import (
	"context"
	"encoding/binary"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// ServeSession runs one client session: startup, authorise, connect,
// relay.
func (p *Plugin) ServeSession(ctx context.Context, s *sdk.Session) {
	host, cfg := p.current()
	client := s.Conn
	_ = client.SetDeadline(time.Now().Add(cfg.startupTimeout))
	startup, cancel, err := receiveStartup(client)
	if err != nil {
		if errors.Is(err, errMalformed) {
			fatal(client, stateProtocolViolation, "keyway: "+err.Error(), "")
		}
		return
	}
	if cancel != nil {
		// A CancelRequest gets no answer, whatever happens to it.
		if t, ok := p.cancels.lookup(*cancel); ok {
			_ = t.forward(ctx, cfg.dialTimeout)
		}
		return
	}
	if s.Refusal != nil {
		fatal(client, refusalState(s.Refusal.Kind), s.Refusal.Message, "")
		return
	}
	if s.Database == nil || host == nil {
		fatal(client, stateInternal, "keyway: this session has no database; it reached the postgres plugin through a listener that serves none", "")
		return
	}
	dbUser, dbName := startup.Parameters["user"], startup.Parameters["database"]
	if dbName == "" {
		dbName = dbUser
	}
	if code, msg := checkRoute(s, dbUser, dbName); code != "" {
		fatal(client, code, msg, "")
		return
	}
	authz, err := host.Authorize(ctx, sdk.AuthorizeRequest{
		SessionID: s.ID, ClientCertificates: s.ClientCertificates, Database: s.Database.Name,
		DBUser: dbUser, DBName: dbName, ClientAddr: s.ClientAddr,
	})
	if err != nil {
		fatal(client, stateInvalidAuthorization, "keyway could not authorise the session, so it is denied: "+err.Error(), "")
		return
	}
	if !authz.Allow {
		fatal(client, stateInvalidAuthorization, authz.Message, "")
		return
	}
	cert, err := p.certs.get(ctx, host, s.Database.Name, dbUser)
	if err != nil {
		fatal(client, stateInternal, "keyway: "+err.Error(), "")
		return
	}
	upstream, err := connect(ctx, s.Database, cert, cfg.dialTimeout)
	if err != nil {
		fatal(client, stateUnableToConnect, fmt.Sprintf("keyway cannot reach database %s at %s: %v", s.Database.Name, s.Database.URI, err), "")
		return
	}
	defer func() { _ = upstream.Close() }()
	params := map[string]string{}
	for k, v := range startup.Parameters {
		params[k] = v
	}
	params["user"], params["database"] = dbUser, dbName
	key, err := login(upstream, client, params, s.Database.Name, dbUser, func(real cancelKey) cancelKey {
		return p.cancels.register(cancelTarget{db: *s.Database, cert: cert, real: real})
	})
	if err != nil {
		return
	}
	if key != nil {
		defer p.cancels.remove(*key)
	}
	_ = client.SetDeadline(time.Time{})
	_ = upstream.SetDeadline(time.Time{})
	relay(s, client, upstream)
}

// receiveStartup reads startup packets until a StartupMessage or a
// CancelRequest. The proxy already terminated TLS, so encryption requests
// are declined.
func receiveStartup(c net.Conn) (*pgproto3.StartupMessage, *cancelKey, error) {
	for {
		code, body, err := readStartupPacket(c)
		if err != nil {
			return nil, nil, err
		}
		switch code {
		case codeSSLRequest, codeGSSENCRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return nil, nil, err
			}
		case codeCancelRequest:
			if len(body) != 12 {
				return nil, nil, fmt.Errorf("%w: CancelRequest of %d bytes", errMalformed, len(body)+4)
			}
			return nil, &cancelKey{pid: binary.BigEndian.Uint32(body[4:]), secret: binary.BigEndian.Uint32(body[8:])}, nil
		default:
			var m pgproto3.StartupMessage
			if err := m.Decode(body); err != nil {
				return nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
			}
			return &m, nil, nil
		}
	}
}

// checkRoute compares the StartupMessage with the route in the client's
// certificate.
func checkRoute(s *sdk.Session, dbUser, dbName string) (code, msg string) {
	if len(s.ClientCertificates) == 0 {
		return stateInvalidAuthorization, "keyway: connect with the certificate from keyway db login; this session has none"
	}
	cert, err := x509.ParseCertificate(s.ClientCertificates[0])
	if err != nil {
		return stateInvalidAuthorization, "keyway: the client certificate cannot be parsed: " + err.Error()
	}
	id, err := identity.FromCertificate(cert)
	if err != nil {
		return stateInvalidAuthorization, "keyway: the client certificate carries no keyway identity: " + err.Error()
	}
	if dbUser == "" {
		return stateInvalidAuthorization, "keyway: the StartupMessage names no database user"
	}
	r := id.Route
	switch {
	case r == nil:
		return "", ""
	case r.Service != "" && r.Service != s.Database.Name:
		return stateInvalidAuthorization, fmt.Sprintf("keyway: this certificate of %s is for database %s, not %s", id.Name, r.Service, s.Database.Name)
	case r.DBUser != "" && r.DBUser != dbUser:
		return stateInvalidAuthorization, fmt.Sprintf("keyway: this certificate of %s is for database user %q, not %q; run keyway db login again with --db-user=%s", id.Name, r.DBUser, dbUser, dbUser)
	case r.DBName != "" && r.DBName != dbName:
		return stateInvalidAuthorization, fmt.Sprintf("keyway: this certificate of %s is for database name %q, not %q; run keyway db login again with --db-name=%s", id.Name, r.DBName, dbName, dbName)
	}
	return "", ""
}

// relay copies the session both ways until either side closes.
func relay(s *sdk.Session, client, upstream net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		n, _ := io.Copy(upstream, client)
		s.CountFromClient(int(n))
		closeWrite(upstream)
	})
	n, _ := io.Copy(client, upstream)
	s.CountToClient(int(n))
	closeWrite(client)
	wg.Wait()
}

// closeWrite half-closes c so its peer sees the end of the stream.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}
