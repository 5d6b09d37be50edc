package server

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/apiserver"
)

// namingAuth answers Ping with the client the call names, and refuses
// Login, as an auth service would.
type namingAuth struct {
	apiv1.UnimplementedAuthServer
}

func (namingAuth) Ping(ctx context.Context, _ *apiv1.PingRequest) (*apiv1.PingResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return &apiv1.PingResponse{ClusterName: strings.Join(md.Get(apiserver.MDClientAddr), ","), Version: strings.Join(md.Get("x-trace"), ",")}, nil
}

func (namingAuth) Login(context.Context, *apiv1.LoginRequest) (*apiv1.LoginResponse, error) {
	return nil, status.Error(codes.PermissionDenied, "wrong password for alice")
}

// listingAgents streams three sets of proxies.
type listingAgents struct {
	apiv1.UnimplementedAgentServer
}

func (listingAgents) WatchProxies(_ *apiv1.WatchProxiesRequest, s apiv1.Agent_WatchProxiesServer) error {
	for _, addr := range []string{"a:1", "b:2", "c:3"} {
		if err := s.Send(&apiv1.WatchProxiesResponse{Proxies: []*apiv1.Proxy{{Addr: addr}}}); err != nil {
			return err
		}
	}
	return nil
}

// serveBuf serves gs on an in-memory listener and returns a client of
// it.
func serveBuf(t *testing.T, gs *grpc.Server) *grpc.ClientConn {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///buf",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestAPIForwarderNamesTheClient forwards calls through a proxy's API
// forwarder to an auth service: the call reaches it with the proxy's
// naming of the client, never the client's own, the client's other
// metadata passes, the auth service's refusal comes back as it is, and
// a stream's messages all arrive.
func TestAPIForwarderNamesTheClient(t *testing.T) {
	backend := grpc.NewServer()
	apiv1.RegisterAuthServer(backend, namingAuth{})
	apiv1.RegisterAgentServer(backend, listingAgents{})
	toAuth := serveBuf(t, backend)

	front := grpc.NewServer(apiForwarder{toAuth}.serverOptions()...)
	client := serveBuf(t, front)

	// The client tries to name itself; the proxy's naming wins.
	ctx := metadata.AppendToOutgoingContext(t.Context(), apiserver.MDClientAddr, "203.0.113.66:1", "x-trace", "t-1")
	resp, err := apiv1.NewAuthClient(client).Ping(ctx, &apiv1.PingRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetClusterName() != "bufconn" || resp.GetVersion() != "t-1" {
		t.Fatalf("the auth service saw the client as %q with trace %q, want the proxy's naming (bufconn) and t-1", resp.GetClusterName(), resp.GetVersion())
	}

	_, err = apiv1.NewAuthClient(client).Login(t.Context(), &apiv1.LoginRequest{User: "alice"})
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || st.Message() != "wrong password for alice" {
		t.Fatalf("the refusal came back as %v", err)
	}

	stream, err := apiv1.NewAgentClient(client).WatchProxies(t.Context(), &apiv1.WatchProxiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.GetProxies()[0].GetAddr())
	}
	if strings.Join(got, " ") != "a:1 b:2 c:3" {
		t.Fatalf("the stream carried %v", got)
	}
}
