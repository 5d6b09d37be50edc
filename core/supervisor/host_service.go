package supervisor

import (
	"context"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// HostBackend answers the plugins' control-plane questions: the core's
// access decisions and database certificates.
type HostBackend interface {
	Authorize(ctx context.Context, req *pluginv1.HostAuthorizeRequest) (*pluginv1.HostAuthorizeResponse, error)
	DatabaseCertificate(ctx context.Context, req *pluginv1.DatabaseCertificateRequest) (*pluginv1.DatabaseCertificateResponse, error)
	// Audit records events (JSON objects); durable ones are on disk when
	// it returns. It keeps no part of eventsJSON afterwards: the audit
	// pipe reads the next events into the same memory.
	Audit(ctx context.Context, durable bool, eventsJSON [][]byte) error
	// ServingCertificate is what a protocol plugin presents to clients
	// whose TLS it completes.
	ServingCertificate(ctx context.Context) (*pluginv1.ServingCertificateResponse, error)
	// Admit checks a client the plugin named plugin completed TLS with and
	// says where its session goes.
	Admit(ctx context.Context, plugin string, req *pluginv1.AdmitRequest) (*pluginv1.AdmitResponse, error)
	// DataCertificate is what a protocol plugin completes an agent's data
	// connections' TLS with.
	DataCertificate(ctx context.Context) (*pluginv1.DataCertificateResponse, error)
	// Released learns that a data connection the plugin named plugin was
	// handed, or its session, ended.
	Released(ctx context.Context, plugin string, req *pluginv1.ReleasedRequest) error
}

// hostService is the core's callback service for one plugin.
type hostService struct {
	pluginv1.UnimplementedHostServer
	logger  hclog.Logger
	backend HostBackend
	// plugin is the name of the plugin served.
	plugin string
}

func (h *hostService) ServingCertificate(ctx context.Context, _ *pluginv1.ServingCertificateRequest) (*pluginv1.ServingCertificateResponse, error) {
	if h.backend == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process serves no clients")
	}
	return h.backend.ServingCertificate(ctx)
}

func (h *hostService) Admit(ctx context.Context, req *pluginv1.AdmitRequest) (*pluginv1.AdmitResponse, error) {
	if h.backend == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process serves no clients")
	}
	return h.backend.Admit(ctx, h.plugin, req)
}

func (h *hostService) DataCertificate(ctx context.Context, _ *pluginv1.DataCertificateRequest) (*pluginv1.DataCertificateResponse, error) {
	if h.backend == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process hands no data connections")
	}
	return h.backend.DataCertificate(ctx)
}

func (h *hostService) Released(ctx context.Context, req *pluginv1.ReleasedRequest) (*pluginv1.ReleasedResponse, error) {
	if h.backend == nil {
		return &pluginv1.ReleasedResponse{}, nil
	}
	return &pluginv1.ReleasedResponse{}, h.backend.Released(ctx, h.plugin, req)
}

func (h *hostService) Authorize(ctx context.Context, req *pluginv1.HostAuthorizeRequest) (*pluginv1.HostAuthorizeResponse, error) {
	if h.backend == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process makes no access decisions")
	}
	return h.backend.Authorize(ctx, req)
}

func (h *hostService) DatabaseCertificate(ctx context.Context, req *pluginv1.DatabaseCertificateRequest) (*pluginv1.DatabaseCertificateResponse, error) {
	if h.backend == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process issues no database certificates")
	}
	return h.backend.DatabaseCertificate(ctx, req)
}

func (h *hostService) Log(_ context.Context, req *pluginv1.LogRequest) (*pluginv1.LogResponse, error) {
	args := make([]any, 0, len(req.GetFields()))
	for _, f := range req.GetFields() {
		args = append(args, f)
	}
	if len(args)%2 == 1 {
		args = append(args, "")
	}
	h.logger.Log(levelFromProto(req.GetLevel()), req.GetMessage(), args...)
	return &pluginv1.LogResponse{}, nil
}

func levelFromProto(l pluginv1.LogLevel) hclog.Level {
	switch l {
	case pluginv1.LogLevel_LOG_LEVEL_TRACE:
		return hclog.Trace
	case pluginv1.LogLevel_LOG_LEVEL_DEBUG:
		return hclog.Debug
	case pluginv1.LogLevel_LOG_LEVEL_WARN:
		return hclog.Warn
	case pluginv1.LogLevel_LOG_LEVEL_ERROR:
		return hclog.Error
	}
	return hclog.Info
}

func (h *hostService) AuditDurable(ctx context.Context, req *pluginv1.AuditDurableRequest) (*pluginv1.AuditDurableResponse, error) {
	if h.backend == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process keeps no audit log")
	}
	if err := h.backend.Audit(ctx, true, req.GetEventsJson()); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &pluginv1.AuditDurableResponse{}, nil
}

func (h *hostService) AuditStream(stream pluginv1.Host_AuditStreamServer) error {
	if h.backend == nil {
		return status.Error(codes.Unavailable, "this keyway process keeps no audit log")
	}
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if err := h.backend.Audit(stream.Context(), false, req.GetEventsJson()); err != nil {
			h.logger.Error("audit events could not be recorded", "count", len(req.GetEventsJson()), "error", err)
			return status.Error(codes.Unavailable, err.Error())
		}
	}
}
