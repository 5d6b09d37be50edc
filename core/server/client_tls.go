package server

import (
	"context"
	"crypto"
	"fmt"
	"net"
	"syscall"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/proxy"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// clientTLS lets protocol plugins complete clients' TLS themselves: the
// proxy hands a plugin the accepted connection, the plugin asks Admit
// where the session goes, and a session for a database this process
// serves is decrypted, inspected and encrypted again in the plugin alone.
// Connections on a protocol's own port always go to its plugin, which
// has to speak first; those on the shared port do when sharedPort is set.
type clientTLS struct {
	proxy      *proxy.Proxy
	sup        *supervisor.Supervisor
	serving    *hostCert
	sharedPort bool
}

// newServingCert issues the certificate plugins present to clients: the
// proxy's names, a server certificate only, without the host identity.
func newServingCert(ctx context.Context, ca authority.CA, proxyCert *hostCert, log hclog.Logger) (*hostCert, error) {
	h := &hostCert{ca: ca, log: log, req: proxyCert.req, kick: make(chan struct{}, 1)}
	h.req.ServeOnly = true
	if err := h.renew(ctx); err != nil {
		return nil, fmt.Errorf("issuing the certificate plugins serve clients with: %w", err)
	}
	return h, nil
}

// hand offers a connection, before TLS, to the plugin of protocol.
func (c *clientTLS) hand(ctx context.Context, conn net.Conn, s *proxy.Session, protocol string, deadline time.Time) (bool, error) {
	in, err := c.sup.Protocol(protocol)
	if err != nil {
		return false, nil
	}
	if spec := in.Info().Spec; !c.sharedPort && (spec == nil || !spec.OwnPort) {
		return false, nil
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false, nil
	}
	return in.HandoffClientTLS(ctx, sc, &pluginv1.Session{
		Id: s.ID, Listener: "proxy", ClientAddr: s.ClientAddr, LocalAddr: s.LocalAddr,
		AcceptedUnixNano: s.AcceptedAt.UnixNano(), ClientTls: true, HandshakeDeadlineUnixNano: deadline.UnixNano(),
	})
}

// servingCertificate returns the serving certificate in PEM.
func (c *clientTLS) servingCertificate() (*pluginv1.ServingCertificateResponse, error) {
	cert := c.serving.cert.Load()
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, status.Error(codes.Internal, "the serving key cannot sign")
	}
	keyPEM, err := authority.KeyPEM(signer)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding the serving key: %v", err)
	}
	return &pluginv1.ServingCertificateResponse{
		CertificatePem: authority.CertsPEM(cert.Certificate...), KeyPem: keyPEM, NotAfterUnix: cert.Leaf.NotAfter.Unix(),
	}, nil
}

// admit decides where a session whose TLS plugin completed goes. A
// session for a database plugin serves in this process stays there; one
// for another plugin or an agent is relayed through a socket pair the
// core joins to its target.
func (c *clientTLS) admit(ctx context.Context, plugin string, req *pluginv1.AdmitRequest) (*pluginv1.AdmitResponse, error) {
	s := &proxy.Session{
		ID: req.GetSessionId(), ClientAddr: req.GetClientAddr(), LocalAddr: req.GetLocalAddr(),
		AcceptedAt: time.Unix(0, req.GetAcceptedUnixNano()), Chain: req.GetClientCertificates(),
		Preface: req.GetPreface(),
	}
	// The handshake's time, from the client's first bytes to the end of
	// TLS in the plugin (the proxy measures its own handshakes the same
	// way).
	c.proxy.Metrics.MeasureSinceWithLabels([]string{"proxy", "handshake"}, s.AcceptedAt, []metrics.Label{{Name: "protocol", Value: c.protocolOf(plugin)}})
	target, refusal := c.proxy.Admit(ctx, s)
	if refusal != nil {
		return &pluginv1.AdmitResponse{Refusal: &pluginv1.Refusal{Kind: refusal.Kind, Message: refusal.Message}}, nil
	}
	if pt, ok := target.(pluginTarget); ok && pt.in.Name() == plugin {
		return &pluginv1.AdmitResponse{Database: agent.DatabaseToProto(*s.Database), KeyTag: pt.keyTag()}, nil
	}
	if err := c.relay(plugin, target, s); err != nil {
		return &pluginv1.AdmitResponse{Refusal: &pluginv1.Refusal{Kind: "unavailable", Message: "keyway: database " + s.Database.Name + " is unavailable: " + err.Error()}}, nil
	}
	return &pluginv1.AdmitResponse{Relay: true}, nil
}

// protocolOf names the protocol a plugin serves, for metrics.
func (c *clientTLS) protocolOf(plugin string) string {
	if in, err := c.sup.Instance(plugin); err == nil {
		if spec := in.Info().Spec; spec != nil && len(spec.Names) > 0 {
			return spec.Names[0]
		}
	}
	return plugin
}

// relay opens the session at its target and sends plugin one end of a
// socket pair joined to it.
func (c *clientTLS) relay(plugin string, target proxy.Target, s *proxy.Session) error {
	in, err := c.sup.Instance(plugin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer, err := target.Open(ctx, s)
	if err != nil {
		return err
	}
	local, err := handToPlugin(ctx, in, &pluginv1.Session{Id: s.ID, RelayFor: s.ID})
	if err != nil {
		_ = peer.Close()
		return err
	}
	go func() {
		defer func() { _ = peer.Close(); _ = local.Close() }()
		sdk.Relay(local, peer)
	}()
	return nil
}
