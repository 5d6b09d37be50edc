package tunnel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// recordedStream keeps a copy of what the agent's client writes.
type recordedStream struct {
	net.Conn
	mu    *sync.Mutex
	wrote *bytes.Buffer
}

func (s recordedStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.wrote.Write(p)
	s.mu.Unlock()
	return s.Conn.Write(p)
}

// clientPings counts the PING frames in what a client wrote.
func clientPings(t *testing.T, wrote []byte) int {
	t.Helper()
	if !bytes.HasPrefix(wrote, []byte(http2.ClientPreface)) {
		t.Fatal("the client's stream does not start with HTTP/2's preface")
	}
	fr := http2.NewFramer(nil, bytes.NewReader(wrote[len(http2.ClientPreface):]))
	pings := 0
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return pings
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(*http2.PingFrame); ok {
			pings++
		}
	}
}

// TestAPICallsInTheTunnelSendNoPings makes the agent's API calls over a
// yamux stream, as the tunnel does, and counts the pings the agent
// sends: none with the tunnel's options, where gRPC's defaults answer
// and send a bandwidth probe on every call.
func TestAPICallsInTheTunnelSendNoPings(t *testing.T) {
	const calls = 30
	tests := []struct {
		name     string
		dial     []grpc.DialOption
		serve    []grpc.ServerOption
		minPings int
		maxPings int
	}{
		{"tunnel options", GRPCDialOptions(), GRPCServerOptions(), 0, 0},
		{"gRPC defaults", nil, nil, calls, 3 * calls},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
			server, err := Server(a)
			if err != nil {
				t.Fatal(err)
			}
			client, err := Client(b)
			if err != nil {
				t.Fatal(err)
			}
			gs := grpc.NewServer(tt.serve...)
			healthpb.RegisterHealthServer(gs, health.NewServer())
			go func() { _ = gs.Serve(server) }()
			t.Cleanup(gs.Stop)

			var mu sync.Mutex
			var wrote bytes.Buffer
			opts := append([]grpc.DialOption{
				grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
					s, err := client.Open()
					return recordedStream{Conn: s, mu: &mu, wrote: &wrote}, err
				}),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
			}, tt.dial...)
			conn, err := grpc.NewClient("passthrough:///proxy", opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			hc := healthpb.NewHealthClient(conn)
			for range calls {
				if _, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			pings := clientPings(t, bytes.Clone(wrote.Bytes()))
			mu.Unlock()
			if pings < tt.minPings || pings > tt.maxPings {
				t.Errorf("the client sent %d pings in %d calls, want %d to %d", pings, calls, tt.minPings, tt.maxPings)
			}
		})
	}
}
