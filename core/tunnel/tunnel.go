// Package tunnel carries an agent's sessions and API calls over one
// long-lived mutual-TLS connection that the agent dials to the proxy, so
// the database network needs no inbound port. yamux multiplexes it: the
// agent opens streams for its gRPC calls to the cluster API, the proxy
// opens one stream per client session, which starts with a Session header,
// unless a data connection the agent dialled ahead (ALPNData) is parked.
package tunnel

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/yamux"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/keyway-dev/keyway/sdk/handoff"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// ALPN protocols on the proxy's public port.
const (
	ALPNAPI    = "keyway-api"
	ALPNTunnel = "keyway-tunnel"
	// ALPNDB carries one database session whose route is in the client's
	// certificate, for any protocol: keyway proxy db uses it. The proxy
	// first answers with an admission (WriteAdmission), then relays.
	ALPNDB = "keyway-db"
)

// streamWindow is how much of one stream either end may have in flight:
// the window of each yamux stream, and so of the agent's API calls,
// which share one stream.
const streamWindow = 1 << 20

func yamuxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.KeepAliveInterval = 10 * time.Second
	c.ConnectionWriteTimeout = 10 * time.Second
	c.LogOutput = io.Discard
	c.MaxStreamWindowSize = streamWindow
	return c
}

// GRPCDialOptions are the agent's options for its API client inside the
// tunnel, GRPCServerOptions the proxy's for the server there: fixed
// flow-control windows, the yamux stream's. gRPC's default estimates the
// link's bandwidth by answering the first data of every call with a
// window update and a ping, two more records each way per call, to grow
// windows past the one yamux already bounds.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(streamWindow),
	}
}

// GRPCServerOptions: see GRPCDialOptions.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(streamWindow),
	}
}

// Server wraps the proxy's end of an agent's connection.
func Server(conn net.Conn) (*yamux.Session, error) {
	return yamux.Server(conn, yamuxConfig())
}

// Client wraps the agent's end of its connection to the proxy.
func Client(conn net.Conn) (*yamux.Session, error) {
	return yamux.Client(conn, yamuxConfig())
}

// encodeHeader frames a session's metadata (handoff.FrameHeader).
func encodeHeader(s *pluginv1.Session) ([]byte, error) {
	b, err := proto.Marshal(s)
	if err != nil {
		return nil, err
	}
	return handoff.FrameHeader(b), nil
}

// ReadHeader reads a session stream's metadata.
func ReadHeader(r io.Reader) (*pluginv1.Session, error) {
	b, err := handoff.ReadHeader(r)
	if err != nil {
		return nil, err
	}
	var s pluginv1.Session
	if err := proto.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding session header: %w", err)
	}
	return &s, nil
}
