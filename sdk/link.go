package sdk

import "google.golang.org/grpc"

// Flow-control windows of the gRPC connections between keyway and its
// plugins. They are fixed: gRPC's default estimates the link's bandwidth
// by answering the first data of every call with a window update and a
// ping, which on these local sockets measures nothing and costs each
// call two more records each way, with the wake-ups they cause. The
// fixed windows bound what one side buffers for the other below what
// the estimate lets them grow to (16 MiB).
const (
	linkStreamWindow = 1 << 20
	linkConnWindow   = 4 << 20
)

// LinkDialOptions are the options for dialing either end of the link
// between keyway and a plugin. keyway and the sdk both use them, so the
// two ends agree; plugins need not call them.
func LinkDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithStaticStreamWindowSize(linkStreamWindow),
		grpc.WithStaticConnWindowSize(linkConnWindow),
	}
}

// LinkServerOptions are the options of the gRPC servers on either end of
// the link between keyway and a plugin, the counterpart of
// LinkDialOptions.
func LinkServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StaticStreamWindowSize(linkStreamWindow),
		grpc.StaticConnWindowSize(linkConnWindow),
	}
}
