package server

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/keyway-dev/keyway/core/tunnel"
)

// Limits of the cluster API's gRPC connections, which reach it through
// the proxy's port from anyone. Calls are unary and short, so no
// connection has a reason to sit silent or to live for hours.
const (
	// apiPingEvery is how long a connection may be quiet before the
	// server pings it, and apiPingTimeout how long the answer may take
	// before the connection is closed as dead.
	apiPingEvery   = time.Minute
	apiPingTimeout = 20 * time.Second
	// apiMaxAge ends a connection however busy, after apiMaxAgeGrace
	// for the calls in flight; clients reconnect on their next call.
	apiMaxAge      = 30 * time.Minute
	apiMaxAgeGrace = time.Minute
	// minClientPing is the shortest ping interval a client may use; a
	// client that pings more often is disconnected.
	minClientPing = 10 * time.Second
)

// apiServerOptions are the cluster API server's options: the proxy has
// completed TLS, the client must then start HTTP/2 within handshake,
// and a connection with no call in flight for idle is closed.
func apiServerOptions(handshake, idle time.Duration) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(tunnel.TLSDone{}),
		grpc.ConnectionTimeout(handshake),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     idle,
			MaxConnectionAge:      apiMaxAge,
			MaxConnectionAgeGrace: apiMaxAgeGrace,
			Time:                  apiPingEvery,
			Timeout:               apiPingTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minClientPing, PermitWithoutStream: true}),
	}
}

// tunnelServerOptions are the options of the gRPC server an agent calls
// through its tunnel. The agent has proved its identity and holds
// watches open for as long as it runs, so only a dead peer ends a
// connection: one that does not answer a ping.
func tunnelServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: apiPingEvery, Timeout: apiPingTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minClientPing, PermitWithoutStream: true}),
	}
}

// authPortOptions are the options of the auth service's own port, which
// only hosts with the cluster's certificates use for more than a join:
// proxies hold their announcement and their agents' tunnels open there
// for as long as they run, so, as in a tunnel, only a dead peer ends a
// connection.
func authPortOptions() []grpc.ServerOption {
	return append(tunnelServerOptions(), grpc.Creds(tunnel.TLSDone{}), grpc.ConnectionTimeout(authPortHandshake))
}
