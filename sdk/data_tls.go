package sdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/keyway-dev/keyway/sdk/handoff"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// serveDataTLS completes the TLS of a data connection an agent dialled to
// a proxy, waits for the session the proxy sends on it, and serves it
// here, so that the session's bytes are decrypted once on the agent's
// host, in this process, instead of in the agent's core and again here.
// The host decides what the session is (Host.Admit); one this plugin
// does not serve is relayed to the connection the host sends for it.
func (s *protocolServer) serveDataTLS(raw net.Conn, meta *pluginv1.Session) {
	dt := meta.GetDataTls()
	host := s.host()
	if host == nil {
		s.logger.Error("a data connection arrived before the plugin was configured")
		_ = raw.Close()
		return
	}
	tc, err := s.dataHandshake(raw, dt, host)
	if err != nil {
		s.release(host, &pluginv1.ReleasedRequest{DataSlot: dt.GetSlot(), Error: err.Error()})
		_ = raw.Close()
		return
	}
	// The connection waits, parked at the proxy, for a session.
	header, err := handoff.ReadHeader(tc)
	if err != nil {
		s.release(host, &pluginv1.ReleasedRequest{DataSlot: dt.GetSlot(), Error: err.Error()})
		_ = tc.Close()
		return
	}
	var hdr pluginv1.Session
	if err := proto.Unmarshal(header, &hdr); err != nil {
		s.release(host, &pluginv1.ReleasedRequest{DataSlot: dt.GetSlot(), Error: "decoding the session header: " + err.Error()})
		_ = tc.Close()
		return
	}
	chain := peerChain(tc)
	relay := s.relays.expect(hdr.GetId())
	defer s.relays.forget(hdr.GetId())
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	resp, err := host.c.Admit(ctx, &pluginv1.AdmitRequest{DataSlot: dt.GetSlot(), SessionHeader: header, ServerCertificates: chain})
	switch {
	case err != nil:
		s.logger.Error("the host did not take a session from a data connection", "session", hdr.GetId(), "error", status.Convert(err).Message())
		_ = tc.Close()
		return
	case resp.GetRelay():
		// The host serves the session, and ends its route.
		s.relayElsewhere(ctx, tc, relay)
		return
	case resp.GetSession() == nil:
		s.logger.Error("the host admitted a session from a data connection without describing it", "session", hdr.GetId())
		_ = tc.Close()
		return
	}
	sess := s.newSession(tc, resp.GetSession())
	go func() {
		s.run(sess)
		s.release(host, &pluginv1.ReleasedRequest{SessionId: sess.ID})
	}()
}

// dataSessionCacheSize bounds the TLS sessions kept to resume data
// connections: a plugin uses one for each proxy its agent serves.
const dataSessionCacheSize = 64

// dataHandshake completes a data connection's TLS as the agent, verifying
// the proxy's certificate against the authorities the host gave (once
// for a chain: dataChains). It resumes the TLS session of an earlier
// data connection to the same proxy when it can (dataCreds.sessions):
// the proxy then proves itself by the session's secret instead of a
// signature, and its chain, kept with the session, is checked again
// against the authorities the host gives now, as a full handshake's is.
func (s *protocolServer) dataHandshake(raw net.Conn, dt *pluginv1.DataTLS, host *hostClient) (*tls.Conn, error) {
	deadline := time.Unix(0, dt.GetHandshakeDeadlineUnixNano())
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	creds, err := s.dataCerts.get(ctx, host)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, s.dataClientConfig(creds, dt.GetServerName(), dt.GetAlpn()))
	_ = raw.SetDeadline(deadline)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("completing the data connection's TLS: %w", err)
	}
	_ = raw.SetDeadline(time.Time{})
	return tc, nil
}

// dataClientConfig is the agent's TLS configuration for a data
// connection to the proxy named name.
func (s *protocolServer) dataClientConfig(creds *dataCreds, name, alpn string) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12, ServerName: name, RootCAs: creds.roots,
		NextProtos: []string{alpn}, ClientSessionCache: creds.sessions,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return creds.cert, nil
		},
	}
	s.dataChains.verifyServerWith(cfg, creds.roots, name)
	return cfg
}

// release tells the host a data connection or its session ended.
func (s *protocolServer) release(host *hostClient, req *pluginv1.ReleasedRequest) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if _, err := host.c.Released(ctx, req); err != nil {
		s.logger.Debug("telling the host a data connection ended", "error", err)
	}
}

// dataCreds is what a data connection's TLS is completed with, and the
// TLS sessions completed with it: new credentials (a renewed certificate,
// rotated authorities) start from full handshakes, so that no session
// resumes an identity the proxy may no longer take.
type dataCreds struct {
	cert     *tls.Certificate
	roots    *x509.CertPool
	sessions tls.ClientSessionCache
}

// dataCerts caches the agent's certificate and the proxy's authorities
// (hostCache).
type dataCerts struct {
	cache hostCache[*dataCreds]
}

func (c *dataCerts) get(ctx context.Context, host *hostClient) (*dataCreds, error) {
	return c.cache.get(0, func() (*dataCreds, time.Time, error) {
		resp, err := host.c.DataCertificate(ctx, &pluginv1.DataCertificateRequest{})
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("getting the agent's certificate from the host: %w", err)
		}
		cert, err := tls.X509KeyPair(resp.GetCertificatePem(), resp.GetKeyPem())
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("the agent's certificate: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(resp.GetRootsPem()) {
			return nil, time.Time{}, errors.New("the host gave no authority to verify proxies with")
		}
		return &dataCreds{cert: &cert, roots: roots, sessions: tls.NewLRUClientSessionCache(dataSessionCacheSize)}, time.Unix(resp.GetNotAfterUnix(), 0), nil
	})
}
