package sdk

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Names shared by the host and its plugins.
const (
	// PluginSetName is the name of the single go-plugin entry a keyway
	// plugin serves; all of its gRPC services hang off it.
	PluginSetName = "keyway"
	// EnvLogLevel tells a plugin the level it should log at.
	EnvLogLevel = "KEYWAY_PLUGIN_LOG_LEVEL"
)

// Handshake returns the go-plugin handshake shared by host and plugins.
// The cookie only keeps people from running a plugin binary by hand; it is
// not a security measure (AutoMTLS and the checksum are).
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  1,
		MagicCookieKey:   "KEYWAY_PLUGIN",
		MagicCookieValue: "6c1f0b0e4a7f4c1f9a3b2d5e8f7a6b5c",
	}
}

// ServeOption changes how Serve runs.
type ServeOption func(*serveConfig)

type serveConfig struct {
	logger hclog.Logger
}

// WithLogger replaces the default logger, which writes JSON to stderr for
// the host to forward.
func WithLogger(l hclog.Logger) ServeOption {
	return func(c *serveConfig) { c.logger = l }
}

// Serve runs p as a plugin until the host stops it. It never returns
// normally: when the host goes away the process exits.
func Serve(p Plugin, opts ...ServeOption) {
	info := p.Info()
	cfg := serveConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Name:       info.Name,
			Level:      hclog.LevelFromString(os.Getenv(EnvLogLevel)),
			JSONFormat: true,
			Output:     os.Stderr,
		})
	}
	if err := checkKind(p, info.Kind); err != nil {
		cfg.logger.Error("cannot serve plugin", "error", err)
		os.Exit(1)
	}
	watchParent(cfg.logger)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake(),
		Plugins: plugin.PluginSet{
			PluginSetName: &grpcPlugin{impl: p, logger: cfg.logger},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, LinkServerOptions()...)...)
		},
		Logger: cfg.logger,
	})
	os.Exit(0)
}

// checkKind makes sure p implements the interface of the kind it claims.
func checkKind(p Plugin, k Kind) error {
	var ok bool
	switch k {
	case KindProtocol:
		_, ok = p.(ProtocolPlugin)
	case KindCA:
		_, ok = p.(CAPlugin)
	case KindAuthz:
		_, ok = p.(AuthzPlugin)
	default:
		return fmt.Errorf("plugin %q has no kind; set Info().Kind", p.Info().Name)
	}
	if !ok {
		return fmt.Errorf("plugin %q claims kind %s but does not implement its interface", p.Info().Name, k)
	}
	return nil
}

// grpcPlugin is the plugin side of the go-plugin entry.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl   Plugin
	logger hclog.Logger
}

// GRPCServer registers the base service and the service of the plugin's
// kind.
func (g *grpcPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	base := &baseServer{impl: g.impl, broker: broker}
	pluginv1.RegisterBaseServer(s, base)
	switch impl := g.impl.(type) {
	case ProtocolPlugin:
		pluginv1.RegisterProtocolServer(s, newProtocolServer(impl, g.logger, base.currentHost))
	case CAPlugin:
		pluginv1.RegisterCAServer(s, &caServer{impl: impl})
	case AuthzPlugin:
		pluginv1.RegisterAuthzServer(s, &authzServer{impl: impl})
	}
	return nil
}

// GRPCClient is not used on the plugin side.
func (g *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("the keyway SDK serves plugins; the host side lives in the core")
}
