package supervisor

import (
	"context"

	"github.com/hashicorp/go-hclog"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// hostService is the core's callback service for one plugin.
type hostService struct {
	pluginv1.UnimplementedHostServer
	logger hclog.Logger
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
