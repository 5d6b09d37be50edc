package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
)

// TLSDone is gRPC transport credentials for connections whose TLS the
// proxy already completed: the handshake is a no-op that reports the
// connection's TLS state, so handlers see the client's certificate.
type TLSDone struct{}

// ServerHandshake reports the state of an already secured connection.
func (TLSDone) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil, nil, errors.New("connection is not TLS")
	}
	st := tc.ConnectionState()
	// The proxy negotiated keyway's own ALPN name to pick the API; what
	// runs inside is HTTP/2, which gRPC checks for.
	st.NegotiatedProtocol = "h2"
	return c, credentials.TLSInfo{State: st, CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

// ClientHandshake is not used: clients dial TLS themselves.
func (TLSDone) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("TLSDone is for servers")
}

// Info describes the credentials.
func (TLSDone) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

// Clone returns the credentials.
func (TLSDone) Clone() credentials.TransportCredentials { return TLSDone{} }

// OverrideServerName is deprecated in gRPC and does nothing.
func (TLSDone) OverrideServerName(string) error { return nil }
