package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

// startupTimeout bounds the startup exchange of a client.
const startupTimeout = 10 * time.Second

// ServeSession answers the startup exchange and refuses the session.
func (*Plugin) ServeSession(_ context.Context, s *sdk.Session) {
	_ = s.Conn.SetDeadline(time.Now().Add(startupTimeout))
	be := pgproto3.NewBackend(pgproto3.NewChunkReader(s.Conn), s.Conn)
	startup, err := receiveStartup(s, be)
	if err != nil {
		return
	}
	_ = be.Send(&pgproto3.ErrorResponse{
		Severity: "FATAL",
		Code:     "0A000", // feature_not_supported
		Message: fmt.Sprintf("keyway cannot route database %q for user %q yet: PostgreSQL access needs a release with database agents",
			startup.Parameters["database"], startup.Parameters["user"]),
	})
}

// receiveStartup reads startup packets until a StartupMessage, declining
// encryption requests.
func receiveStartup(s *sdk.Session, be *pgproto3.Backend) (*pgproto3.StartupMessage, error) {
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := s.Conn.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case *pgproto3.StartupMessage:
			return m, nil
		case *pgproto3.CancelRequest:
			return nil, errors.New("cancel request")
		default:
			return nil, fmt.Errorf("unexpected startup message %T", m)
		}
	}
}
