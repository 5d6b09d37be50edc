package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/agent"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// durableWait bounds how long a session's start waits for the audit
// log.
const durableWait = 10 * time.Second

// dbCertTTL is how long a db-client certificate given to a protocol
// plugin lives; plugins cache it until shortly before.
const dbCertTTL = time.Hour

// decider makes the agent's access decisions and gets its database
// certificates: in-process when auth runs here, through the tunnel
// otherwise.
type decider interface {
	Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error)
	DBClientCert(ctx context.Context, sessionID, database, dbUser string) (authority.DBClientCert, error)
}

// hostBackend answers protocol plugins' questions for the databases of
// this agent. The supervisor is created with it, before the roles exist;
// Run completes it with the roles' parts before any plugin starts, and
// nothing changes it afterwards.
type hostBackend struct {
	registry *agent.Registry
	decide   decider
	audit    jsonLog
	// auditAllow lets sessions proceed while the audit log fails
	// (on_failure = "allow"); the failure is logged.
	auditAllow bool
	logger     hclog.Logger
	// auditFailed counts events the audit log refused; the node's
	// counter, which the metrics report.
	auditFailed *atomic.Int64
	// clients admits sessions whose TLS a protocol plugin completed,
	// once the proxy role opened it; nil without the proxy role.
	clients *clientGate
	// data answers for the data connections the agent role hands plugins
	// before TLS; nil on an agent without tunnels.
	data *agentData
}

// hostParts are what a hostBackend answers with.
type hostParts struct {
	registry    *agent.Registry
	decide      decider
	audit       jsonLog
	auditAllow  bool
	logger      hclog.Logger
	auditFailed *atomic.Int64
	clients     *clientGate
	data        *agentData
}

// complete gives the backend its parts. Run calls it once, before the
// supervisor starts the plugins that call the backend.
func (h *hostBackend) complete(p hostParts) {
	h.registry, h.decide, h.audit, h.auditAllow = p.registry, p.decide, p.audit, p.auditAllow
	h.logger, h.auditFailed, h.clients, h.data = p.logger, p.auditFailed, p.clients, p.data
}

// Audit records plugin events in this process's audit log. With
// on_failure = "allow", events that cannot be recorded durably (a
// session's start while the log is unavailable) are queued like any
// other event instead, so that the session goes on and its record waits
// for the log; only what the log refuses even then is lost, counted and
// logged.
func (h *hostBackend) Audit(ctx context.Context, durable bool, eventsJSON [][]byte) error {
	if h.audit == nil {
		return errors.New("this keyway process keeps no audit log")
	}
	if !durable {
		// A batch of the plugin's stream waits while the log's queue is
		// full: backpressure.
		return h.failed(h.record(ctx, false, eventsJSON), len(eventsJSON))
	}
	// A session's start waits a bounded time, so a log that is too slow
	// refuses the session rather than hold its client.
	dctx, cancel := context.WithTimeout(ctx, durableWait)
	err := h.record(dctx, true, eventsJSON)
	cancel()
	if err != nil && h.auditAllow {
		qctx, cancel := context.WithTimeout(ctx, durableWait)
		qerr := h.record(qctx, false, eventsJSON)
		cancel()
		if qerr == nil {
			h.logger.Warn("the audit log could not record a session start durably; on_failure = allow lets the session go on and its record waits in the queue", "events", len(eventsJSON), "error", err)
			return nil
		}
	}
	return h.failed(err, len(eventsJSON))
}

// record passes events to the audit log as the plugin encoded them (the
// sink checks each is an object), not decoded and encoded again.
func (h *hostBackend) record(ctx context.Context, durable bool, eventsJSON [][]byte) error {
	return h.audit.EmitJSON(ctx, durable, eventsJSON)
}

// jsonLog is an audit log that takes events already encoded: every sink,
// and an agent's link to its proxy.
type jsonLog interface {
	EmitJSON(ctx context.Context, durable bool, objects [][]byte) error
}

// failed counts events the audit log refused and applies on_failure.
func (h *hostBackend) failed(err error, events int) error {
	if err == nil {
		return nil
	}
	h.auditFailed.Add(int64(events))
	if h.auditAllow {
		h.logger.Error("the audit log failed; on_failure = allow lets the session go on", "events", events, "error", err)
		return nil
	}
	return err
}

func (h *hostBackend) Authorize(ctx context.Context, req *pluginv1.HostAuthorizeRequest) (*pluginv1.HostAuthorizeResponse, error) {
	if h.registry == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process serves no databases")
	}
	if _, found, err := h.registry.Get(ctx, req.GetDatabase()); err != nil || !found {
		return &pluginv1.HostAuthorizeResponse{Allow: false, Message: "keyway: database " + req.GetDatabase() + " is not served by this agent"}, nil
	}
	resp, err := h.decide.Authorize(ctx, &apiv1.AuthorizeRequest{
		ClientCertificates: req.GetClientCertificates(), Database: req.GetDatabase(),
		DbUser: req.GetDbUser(), DbName: req.GetDbName(), ClientAddr: req.GetClientAddr(),
		SessionId: req.GetSessionId(),
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, status.Convert(err).Message())
	}
	out := &pluginv1.HostAuthorizeResponse{Allow: resp.GetAllow(), Message: resp.GetMessage(), IdleTimeoutMs: resp.GetIdleTimeoutMs(), Refusal: resp.GetRefusal()}
	for _, r := range resp.GetReasons() {
		out.Reasons = append(out.Reasons, &pluginv1.Reason{Effect: r.GetEffect(), Role: r.GetRole(), Rule: r.GetRule(), Message: r.GetMessage()})
	}
	return out, nil
}

func (h *hostBackend) DatabaseCertificate(ctx context.Context, req *pluginv1.DatabaseCertificateRequest) (*pluginv1.DatabaseCertificateResponse, error) {
	if h.registry == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process serves no databases")
	}
	if _, found, err := h.registry.Get(ctx, req.GetDatabase()); err != nil || !found {
		return nil, status.Errorf(codes.NotFound, "database %s is not served by this agent", req.GetDatabase())
	}
	c, err := h.decide.DBClientCert(ctx, req.GetSessionId(), req.GetDatabase(), req.GetDbUser())
	if err != nil {
		code := codes.Unavailable
		if status.Code(err) == codes.PermissionDenied {
			code = codes.PermissionDenied
		}
		return nil, status.Error(code, status.Convert(err).Message())
	}
	return &pluginv1.DatabaseCertificateResponse{CertificatePem: c.CertPEM, KeyPem: c.KeyPEM, NotAfterUnix: c.NotAfter.Unix()}, nil
}

// localDecider decides in this process, where auth runs too, with the
// same service the agents' tunnels reach. The sessions it serves are the
// ones this process routed to itself, so they need no grant; their
// db-client certificates are recorded as an agent's are.
type localDecider struct {
	api apiserver.AgentService
	ca  authority.CA
	// record audits the certificates signed.
	record func(context.Context, audit.Event)
}

func (l localDecider) Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error) {
	return l.api.Authorize(ctx, req)
}

func (l localDecider) DBClientCert(ctx context.Context, sessionID, database, dbUser string) (authority.DBClientCert, error) {
	c, err := authority.SignDBClientCert(ctx, l.ca, authority.DBClientRequest{DBUser: dbUser, TTL: dbCertTTL}, time.Now())
	if l.record != nil {
		e := apiserver.DBClientIssued(sessionID, "", database, dbUser, c.NotAfter)
		e.Success = err == nil
		if err != nil {
			e.Error = err.Error()
		}
		l.record(ctx, e)
	}
	return c, err
}

// ServingCertificate is the certificate protocol plugins present to
// clients whose TLS it completes; only a process with the proxy role has
// one.
func (h *hostBackend) ServingCertificate(context.Context) (*pluginv1.ServingCertificateResponse, error) {
	ct, err := h.clients.get()
	if err != nil {
		return nil, err
	}
	return ct.servingCertificate()
}

// Admit routes a session whose TLS a plugin completed: a client's, or a
// data connection's that the agent role handed it.
func (h *hostBackend) Admit(ctx context.Context, plugin string, req *pluginv1.AdmitRequest) (*pluginv1.AdmitResponse, error) {
	if req.GetDataSlot() != "" {
		if h.data == nil {
			return nil, status.Error(codes.Unavailable, "this keyway process hands no data connections")
		}
		return h.data.admit(ctx, plugin, req)
	}
	ct, err := h.clients.get()
	if err != nil {
		return nil, err
	}
	return ct.admit(ctx, plugin, req)
}

// DataCertificate is what plugins complete the TLS of the agent's data
// connections with.
func (h *hostBackend) DataCertificate(context.Context) (*pluginv1.DataCertificateResponse, error) {
	if h.data == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process hands no data connections")
	}
	return h.data.certificate()
}

// Released learns that a handed data connection, or its session, ended.
func (h *hostBackend) Released(_ context.Context, _ string, req *pluginv1.ReleasedRequest) error {
	if h.data != nil {
		h.data.released(req)
	}
	return nil
}

// clientGate is where protocol plugins reach the proxy's client TLS. The
// plugins start before the proxy role can be built, since the proxy needs
// the protocols they declare and a certificate from the CA plugin, and
// the proxy needs the plugins to complete its clients' TLS: the gate
// breaks that circle. It exists before the plugins start; the proxy
// role's constructor opens it once, before the proxy accepts a
// connection, so no plugin is handed a client before it is open.
type clientGate struct{ open atomic.Pointer[clientTLS] }

// get returns the proxy's client TLS, or an error a plugin understands
// while the process has no proxy role or the proxy is still starting.
func (g *clientGate) get() (*clientTLS, error) {
	if g == nil {
		return nil, status.Error(codes.Unavailable, "this keyway process has no proxy role")
	}
	ct := g.open.Load()
	if ct == nil {
		return nil, status.Error(codes.Unavailable, "the proxy is starting")
	}
	return ct, nil
}
