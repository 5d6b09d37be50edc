package server

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/apiserver"
)

// frame is one gRPC message, encoded, that a proxy forwards as it is.
type frame struct{ b []byte }

// frameCodec passes messages through without decoding them. It is named
// proto so that both ends see the content type they expect.
type frameCodec struct{}

func (frameCodec) Marshal(v any) ([]byte, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("forwarding a %T, not a message frame", v)
	}
	return f.b, nil
}

func (frameCodec) Unmarshal(data []byte, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("forwarding into a %T, not a message frame", v)
	}
	f.b = append(f.b[:0], data...)
	return nil
}

func (frameCodec) Name() string { return "proto" }

// apiForwarder forwards every cluster API call a proxy without the auth
// role receives to the auth service, naming the client: its address and
// the certificate chain its TLS presented, which the auth service
// verifies as its own clients'. Messages pass as they are; the proxy
// reads none of them.
type apiForwarder struct{ conn *grpc.ClientConn }

// serverOptions make a gRPC server forward every call.
func (f apiForwarder) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ForceServerCodec(frameCodec{}), grpc.UnknownServiceHandler(f.forward)}
}

// forward relays one call, unary or streaming, both ways until either
// side ends it, and passes the auth service's status back.
func (f apiForwarder) forward(_ any, in grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(in)
	if !ok {
		return status.Error(codes.Internal, "forwarding a call without a method")
	}
	ctx := in.Context()
	addr, chain := "", [][]byte(nil)
	if p, ok := peer.FromContext(ctx); ok {
		addr = p.Addr.String()
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			for _, c := range info.State.PeerCertificates {
				chain = append(chain, c.Raw)
			}
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	for k, v := range md {
		// Only the proxy names the client; gRPC sets its own headers.
		if strings.HasPrefix(k, "keyway-") || strings.HasPrefix(k, "grpc-") || strings.HasPrefix(k, ":") || k == "content-type" || k == "user-agent" {
			continue
		}
		out[k] = v
	}
	octx := apiserver.ForwardClient(metadata.NewOutgoingContext(ctx, out), addr, chain)
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	up, err := f.conn.NewStream(octx, desc, method, grpc.ForceCodec(frameCodec{}))
	if err != nil {
		return unavailable(err)
	}
	// The client's messages go up on their own goroutine; the answers
	// come down on this one, which ends the call.
	sent := make(chan error, 1)
	go func() {
		for {
			m := &frame{}
			if err := in.RecvMsg(m); err != nil {
				if errors.Is(err, io.EOF) {
					sent <- up.CloseSend()
					return
				}
				sent <- err
				return
			}
			if err := up.SendMsg(m); err != nil {
				sent <- err
				return
			}
		}
	}()
	first := true
	for {
		m := &frame{}
		if err := up.RecvMsg(m); err != nil {
			if first {
				if h, herr := up.Header(); herr == nil {
					_ = in.SetHeader(h)
				}
			}
			in.SetTrailer(up.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			return unavailable(err)
		}
		if first {
			first = false
			if h, err := up.Header(); err == nil {
				if err := in.SendHeader(h); err != nil {
					return err
				}
			}
		}
		if err := in.SendMsg(m); err != nil {
			return err
		}
	}
}

// unavailable passes the auth service's status on, and says that it
// cannot be reached when the call got none. A connection that cannot be
// made reaches the client as the dialler's error, which names the auth
// addresses that did not answer.
func unavailable(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unavailable, "the proxy cannot reach the cluster's auth service: "+err.Error())
}
