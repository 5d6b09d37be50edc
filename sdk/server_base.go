package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-plugin"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// baseServer answers the Base service for any plugin.
type baseServer struct {
	pluginv1.UnimplementedBaseServer
	impl   Plugin
	broker *plugin.GRPCBroker

	mu     sync.Mutex
	hostID uint32
	host   *hostClient
}

func (s *baseServer) GetInfo(context.Context, *pluginv1.GetInfoRequest) (*pluginv1.GetInfoResponse, error) {
	info := s.impl.Info()
	versions := info.APIVersions
	if len(versions) == 0 {
		versions = []uint32{APIVersion}
	}
	return &pluginv1.GetInfoResponse{
		Name:          info.Name,
		Kind:          pluginv1.Kind(info.Kind),
		PluginVersion: info.Version,
		ApiVersions:   versions,
	}, nil
}

func (s *baseServer) GetConfigSchema(context.Context, *pluginv1.GetConfigSchemaRequest) (*pluginv1.GetConfigSchemaResponse, error) {
	return &pluginv1.GetConfigSchemaResponse{Schema: schemaToProto(s.impl.ConfigSchema())}, nil
}

func (s *baseServer) SetConfig(ctx context.Context, req *pluginv1.SetConfigRequest) (*pluginv1.SetConfigResponse, error) {
	host, err := s.dialHost(req.GetHostBrokerId())
	if err != nil {
		return nil, err
	}
	err = s.impl.Configure(ctx, ConfigureRequest{
		Config:      req.GetConfigJson(),
		APIVersion:  req.GetApiVersion(),
		ClusterName: req.GetClusterName(),
		DataDir:     req.GetDataDir(),
		Host:        host,

		AuditMaxParameterBytes: int(req.GetAuditMaxParameterBytes()),
		AuditDBEvents:          req.GetAuditDbEvents(),
	})
	resp := &pluginv1.SetConfigResponse{}
	var diags Diagnostics
	switch {
	case err == nil:
	case errors.As(err, &diags):
		for _, d := range diags {
			resp.Diagnostics = append(resp.Diagnostics, &pluginv1.Diagnostic{Path: d.Path, Summary: d.Summary, Detail: d.Detail})
		}
	default:
		resp.Diagnostics = append(resp.Diagnostics, &pluginv1.Diagnostic{Summary: err.Error()})
	}
	return resp, nil
}

func (s *baseServer) Health(ctx context.Context, _ *pluginv1.HealthRequest) (*pluginv1.HealthResponse, error) {
	if err := s.impl.Health(ctx); err != nil {
		return &pluginv1.HealthResponse{Healthy: false, Message: err.Error()}, nil
	}
	return &pluginv1.HealthResponse{Healthy: true}, nil
}

// dialHost connects to the host service the core serves on the broker.
func (s *baseServer) dialHost(id uint32) (Host, error) {
	if id == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host != nil && s.hostID == id {
		return s.host, nil
	}
	conn, err := s.broker.DialWithOptions(id, LinkDialOptions()...)
	if err != nil {
		return nil, fmt.Errorf("dialing the host service: %w", err)
	}
	s.hostID, s.host = id, newHostClient(pluginv1.NewHostClient(conn))
	return s.host, nil
}

// currentHost is the host client of the latest configuration, nil before
// the first.
func (s *baseServer) currentHost() *hostClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host
}

func schemaToProto(s Schema) *pluginv1.Schema {
	out := &pluginv1.Schema{}
	for _, a := range s.Attributes {
		out.Attributes = append(out.Attributes, &pluginv1.Attribute{
			Name: a.Name, Type: a.Type, Required: a.Required, Description: a.Description,
		})
	}
	for _, b := range s.Blocks {
		out.Blocks = append(out.Blocks, &pluginv1.Block{
			Name: b.Name, Body: schemaToProto(b.Body), Repeated: b.Repeated, Description: b.Description,
		})
	}
	return out
}
