package sdk

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// What a client's HTTP/2 stream starts with, and a ping frame's type
// (RFC 9113, sections 3.4 and 6.7).
const (
	clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	framePing     = 0x6
)

// pingCounter reads the HTTP/2 frames a client writes and counts its
// pings (probes and answers alike).
type pingCounter struct {
	mu      sync.Mutex
	pending []byte
	preface bool
	pings   int
}

// add takes the next bytes the client wrote.
func (c *pingCounter) add(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, p...)
	if !c.preface {
		if len(c.pending) < len(clientPreface) {
			return
		}
		c.pending, c.preface = c.pending[len(clientPreface):], true
	}
	for len(c.pending) >= 9 {
		length := int(c.pending[0])<<16 | int(c.pending[1])<<8 | int(c.pending[2])
		if len(c.pending) < 9+length {
			return
		}
		if c.pending[3] == framePing {
			c.pings++
		}
		c.pending = c.pending[9+length:]
	}
}

func (c *pingCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pings
}

// countingConn hands what it writes to a pingCounter.
type countingConn struct {
	net.Conn
	frames *pingCounter
}

func (c countingConn) Write(p []byte) (int, error) {
	c.frames.add(p)
	return c.Conn.Write(p)
}

// TestLinkOptionsSendNoPings makes unary calls over a local socket and
// counts the pings the client sends: none with the link's options; with
// gRPC's defaults each call has the client answer the server's bandwidth
// probe and send one of its own.
func TestLinkOptionsSendNoPings(t *testing.T) {
	const calls = 40
	tests := []struct {
		name       string
		dial       []grpc.DialOption
		serve      []grpc.ServerOption
		minPerCall float64
		maxPerCall float64
	}{
		{"link options", LinkDialOptions(), LinkServerOptions(), 0, 0},
		{"gRPC defaults", nil, nil, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("unix", t.TempDir()+"/link.sock")
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer(tt.serve...)
			healthpb.RegisterHealthServer(srv, health.NewServer())
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(srv.Stop)

			var frames pingCounter
			dialer := func(ctx context.Context, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, "unix", addr)
				if err != nil {
					return nil, err
				}
				return countingConn{Conn: c, frames: &frames}, nil
			}
			opts := append([]grpc.DialOption{
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(dialer),
			}, tt.dial...)
			conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			client := healthpb.NewHealthClient(conn)
			ctx := context.Background()
			// The first call sets the connection up (preface, settings).
			if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatal(err)
			}
			before := frames.count()
			for range calls {
				if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
					t.Fatal(err)
				}
			}
			perCall := float64(frames.count()-before) / calls
			if perCall < tt.minPerCall || perCall > tt.maxPerCall {
				t.Errorf("%.2f pings a call, want %.1f to %.1f", perCall, tt.minPerCall, tt.maxPerCall)
			}
		})
	}
}
