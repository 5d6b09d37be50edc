package sdk

import (
	"context"

	"github.com/hashicorp/go-hclog"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// hostClient calls the core's Host service.
type hostClient struct {
	c pluginv1.HostClient
}

func (h *hostClient) Log(ctx context.Context, level hclog.Level, msg string, keyvals ...string) error {
	_, err := h.c.Log(ctx, &pluginv1.LogRequest{Level: logLevelToProto(level), Message: msg, Fields: keyvals})
	return err
}

func logLevelToProto(l hclog.Level) pluginv1.LogLevel {
	switch l {
	case hclog.Trace:
		return pluginv1.LogLevel_LOG_LEVEL_TRACE
	case hclog.Debug:
		return pluginv1.LogLevel_LOG_LEVEL_DEBUG
	case hclog.Warn:
		return pluginv1.LogLevel_LOG_LEVEL_WARN
	case hclog.Error:
		return pluginv1.LogLevel_LOG_LEVEL_ERROR
	}
	return pluginv1.LogLevel_LOG_LEVEL_INFO
}
