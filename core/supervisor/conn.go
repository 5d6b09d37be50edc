package supervisor

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Conn holds the gRPC clients of one running plugin process.
type Conn struct {
	Base     pluginv1.BaseClient
	Protocol pluginv1.ProtocolClient
	CA       pluginv1.CAClient
	Authz    pluginv1.AuthzClient

	broker *plugin.GRPCBroker
}

// hostPlugin is the host side of the single go-plugin entry every keyway
// plugin serves.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the keyway core does not serve plugins")
}

func (hostPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &Conn{
		Base:     pluginv1.NewBaseClient(cc),
		Protocol: pluginv1.NewProtocolClient(cc),
		CA:       pluginv1.NewCAClient(cc),
		Authz:    pluginv1.NewAuthzClient(cc),
		broker:   broker,
	}, nil
}
