package agent

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/keyway-dev/keyway/core/authority"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// DataHandoff passes data connections to the protocol plugin that serves
// this agent's sessions before TLS, so the plugin completes their TLS
// and the sessions' bytes never cross the agent's core.
type DataHandoff interface {
	// HandData passes raw, dialled to the slot's proxy, to a plugin that
	// completes its TLS. It reports false, having passed nothing, when no
	// plugin does; the caller closes its copy of raw either way.
	HandData(ctx context.Context, raw *net.TCPConn, slot *DataSlot) (bool, error)
}

// DataSlot is a data connection handed to a plugin before TLS, from then
// until the proxy sends a session's header on it or it ends.
type DataSlot struct {
	// ID names the connection to the plugin and back.
	ID string
	// ServerName is the name the proxy's certificate must carry.
	ServerName string

	client *TunnelClient
	// done takes whether a session came (keepWarm's slots).
	done chan<- bool
	once sync.Once
}

func newDataSlot(c *TunnelClient, done chan<- bool) (*DataSlot, error) {
	host, _, err := net.SplitHostPort(c.ProxyAddr)
	if err != nil {
		return nil, fmt.Errorf("proxy address %q: %w", c.ProxyAddr, err)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return &DataSlot{ID: hex.EncodeToString(b[:]), ServerName: host, client: c, done: done}, nil
}

// signal frees the slot for keepWarm to dial again, once.
func (s *DataSlot) signal(used bool) { s.once.Do(func() { s.done <- used }) }

// Lost is called when the connection ended before a session's header.
func (s *DataSlot) Lost() { s.signal(false) }

// Open takes the session header the proxy sent, after checking that the
// proxy's certificate chain (verified by the plugin against the host
// authorities) names the proxy this slot was dialled to, and returns the
// session with its database as this agent serves it, or its refusal.
func (s *DataSlot) Open(ctx context.Context, chain [][]byte, header []byte) (*pluginv1.Session, error) {
	certs := make([]*x509.Certificate, 0, len(chain))
	for _, der := range chain {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			s.signal(false)
			return nil, fmt.Errorf("the proxy's certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	c := s.client
	var want string
	if c.HostID != nil {
		want = c.HostID()
	}
	if err := authority.VerifyProxyIdentity(certs, c.Identity.Get().Cluster, want); err != nil {
		s.signal(false)
		return nil, err
	}
	s.signal(true)
	var meta pluginv1.Session
	if err := proto.Unmarshal(header, &meta); err != nil {
		return nil, fmt.Errorf("decoding session header: %w", err)
	}
	if meta.GetEndSessions() == nil {
		c.lookup(ctx, &meta)
	}
	return &meta, nil
}

// Bind routes the session's calls back through this slot's proxy, which
// holds its grant, until end.
func (s *DataSlot) Bind(sessionID string) (end func()) {
	return s.client.Remote.BindSession(sessionID, s.client.ProxyAddr)
}

// Deliver serves a session that Open returned through the agent's core,
// as one from a tunnel stream: conn carries its decrypted bytes.
func (s *DataSlot) Deliver(ctx context.Context, conn net.Conn, meta *pluginv1.Session) {
	s.client.deliver(ctx, conn, meta, func() { _ = conn.Close() })
}
