package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// Session is what the proxy knows of a session when it hands it over.
type Session struct {
	ID         string
	ClientAddr string
	LocalAddr  string
	AcceptedAt time.Time
	Chain      [][]byte
	Prefix     []byte
	// Preface is what the plugin's exchange before TLS settled, for the
	// plugin that serves the session.
	Preface  []byte
	Database *sdk.Database
	Refusal  *sdk.Refusal
	// Protocol is the protocol of a connection that names no database,
	// such as an out-of-band request.
	Protocol string
}

func newSession(conn net.Conn, chain [][]byte) *Session {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return &Session{
		ID: hex.EncodeToString(b[:]), ClientAddr: conn.RemoteAddr().String(), LocalAddr: conn.LocalAddr().String(),
		AcceptedAt: time.Now(), Chain: chain,
	}
}
