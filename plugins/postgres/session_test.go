package postgres

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

func TestStartupIsDeclinedWithAnErrorResponse(t *testing.T) {
	tests := []struct {
		name     string
		requests []pgproto3.FrontendMessage
	}{
		{"plain startup", nil},
		{"after SSLRequest", []pgproto3.FrontendMessage{&pgproto3.SSLRequest{}}},
		{"after GSSENCRequest and SSLRequest", []pgproto3.FrontendMessage{&pgproto3.GSSEncRequest{}, &pgproto3.SSLRequest{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer func() { _ = client.Close() }()
			done := make(chan struct{})
			go func() {
				defer close(done)
				(&Plugin{}).ServeSession(context.Background(), &sdk.Session{Conn: server})
				_ = server.Close()
			}()
			_ = client.SetDeadline(time.Now().Add(5 * time.Second))
			fe := pgproto3.NewFrontend(pgproto3.NewChunkReader(client), client)
			for _, req := range tt.requests {
				if err := fe.Send(req); err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 1)
				if _, err := client.Read(b); err != nil || b[0] != 'N' {
					t.Fatalf("answer to %T = %q, %v; want N", req, b, err)
				}
			}
			if err := fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "alice", "database": "app"}}); err != nil {
				t.Fatal(err)
			}
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			er, ok := msg.(*pgproto3.ErrorResponse)
			if !ok || er.Code != "0A000" || er.Severity != "FATAL" || !strings.Contains(er.Message, `database "app" for user "alice"`) {
				t.Fatalf("got %#v", msg)
			}
			<-done
		})
	}
}
