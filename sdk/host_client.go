package sdk

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// hostClient calls the core's Host service.
type hostClient struct {
	c     pluginv1.HostClient
	audit auditSender
}

// auditSender takes a plugin's audit events to the host: the audit pipe
// when the host gave one, else the gRPC stream.
type auditSender interface {
	enqueue(ctx context.Context, events []AuditEvent) (AuditTicket, error)
	wait(ctx context.Context, t AuditTicket) error
}

func newHostClient(c pluginv1.HostClient) *hostClient {
	if p := processAuditPipe(); p != nil {
		return &hostClient{c: c, audit: p}
	}
	return &hostClient{c: c, audit: newAuditBatcher(c)}
}

func (h *hostClient) AuditDurable(ctx context.Context, events ...AuditEvent) error {
	encoded, err := encodeEvents(events)
	if err != nil {
		return err
	}
	if _, err = h.c.AuditDurable(ctx, &pluginv1.AuditDurableRequest{EventsJson: encoded}); err != nil {
		// The host's sentence, without gRPC's wrapping, since protocol
		// plugins pass it on to their clients.
		if st, ok := status.FromError(err); ok {
			return errors.New(st.Message())
		}
		return err
	}
	return nil
}

func (h *hostClient) Audit(ctx context.Context, events ...AuditEvent) error {
	_, err := h.audit.enqueue(ctx, events)
	return err
}

func (h *hostClient) AuditQueued(ctx context.Context, events ...AuditEvent) (AuditTicket, error) {
	return h.audit.enqueue(ctx, events)
}

func (h *hostClient) AuditWait(ctx context.Context, t AuditTicket) error {
	return h.audit.wait(ctx, t)
}

func (h *hostClient) Log(ctx context.Context, level hclog.Level, msg string, keyvals ...string) error {
	_, err := h.c.Log(ctx, &pluginv1.LogRequest{Level: logLevelToProto(level), Message: msg, Fields: keyvals})
	return err
}

func (h *hostClient) Authorize(ctx context.Context, req AuthorizeRequest) (Authorization, error) {
	resp, err := h.c.Authorize(ctx, &pluginv1.HostAuthorizeRequest{
		SessionId: req.SessionID, ClientCertificates: req.ClientCertificates, Database: req.Database,
		DbUser: req.DBUser, DbName: req.DBName, ClientAddr: req.ClientAddr,
	})
	if err != nil {
		return Authorization{}, err
	}
	out := Authorization{Allow: resp.GetAllow(), Message: resp.GetMessage(), IdleTimeout: time.Duration(resp.GetIdleTimeoutMs()) * time.Millisecond, Refusal: resp.GetRefusal()}
	for _, r := range resp.GetReasons() {
		out.Reasons = append(out.Reasons, Reason{Effect: r.GetEffect(), Role: r.GetRole(), Rule: r.GetRule(), Message: r.GetMessage()})
	}
	return out, nil
}

func (h *hostClient) DatabaseCertificate(ctx context.Context, req DatabaseCertificateRequest) (DatabaseCertificate, error) {
	resp, err := h.c.DatabaseCertificate(ctx, &pluginv1.DatabaseCertificateRequest{SessionId: req.SessionID, Database: req.Database, DbUser: req.DBUser})
	if err != nil {
		return DatabaseCertificate{}, err
	}
	return DatabaseCertificate{CertPEM: resp.GetCertificatePem(), KeyPEM: resp.GetKeyPem(), NotAfter: time.Unix(resp.GetNotAfterUnix(), 0)}, nil
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
