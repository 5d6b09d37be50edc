package server

import (
	"context"
	"fmt"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/audit/file"
	"github.com/keyway-dev/keyway/core/audit/pgsink"
	"github.com/keyway-dev/keyway/core/config"
)

// AuditLog is a process's audit sink: the JSON-lines file or the
// PostgreSQL table.
type AuditLog interface {
	audit.Log
	// EmitJSON records events already encoded, as protocol plugins send
	// them.
	EmitJSON(ctx context.Context, durable bool, objects [][]byte) error
	// Healthy returns nil while events can be recorded.
	Healthy() error
	// Close records what it can of the queue and reports what it could
	// not.
	Close() error
}

// OpenAuditLog opens the sink the audit block configures. Like the sinks
// themselves, it fails only for settings or files that are wrong; a sink
// that cannot write yet reports it through Healthy.
func OpenAuditLog(cfg *config.Config, logger hclog.Logger) (AuditLog, error) {
	a := cfg.Audit
	if a.Postgres != nil {
		s, err := pgsink.Open(PostgresAuditOptions(cfg, logger))
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return file.Open(file.Options{
		Path: a.Path, Fsync: a.Fsync, MaxSizeBytes: a.MaxSizeBytes(), MaxFiles: a.MaxFiles, Cluster: cfg.ClusterName,
	})
}

// PostgresAuditOptions are the PostgreSQL sink's options from the audit
// block's postgres block, which must be set.
func PostgresAuditOptions(cfg *config.Config, logger hclog.Logger) pgsink.Options {
	p := cfg.Audit.Postgres
	return pgsink.Options{
		URL: p.URL, CACertFile: p.CACertFile, CertFile: p.CertFile, KeyFile: p.KeyFile, PasswordFile: p.PasswordFile,
		Table: p.Table, QueueSize: p.QueueSize, Cluster: cfg.ClusterName, Logger: logger,
	}
}

// auditSearcher searches the log the configuration names; nil for a
// process that keeps none.
func auditSearcher(cfg *config.Config) audit.Searcher {
	switch {
	case (cfg.DB == nil && cfg.Auth == nil) || agentOnly(cfg):
		return nil
	case cfg.Audit.Postgres != nil:
		return pgsink.Searcher{Options: PostgresAuditOptions(cfg, nil)}
	}
	return file.Searcher{Path: cfg.Audit.Path}
}

// auditStats are what the metrics report of the sink.
func auditStats(l AuditLog) (written int64, depth int) {
	switch s := l.(type) {
	case *file.Sink:
		st := s.Stats()
		return st.Written, st.QueueDepth
	case *pgsink.Sink:
		st := s.Stats()
		return st.Written, st.QueueDepth
	}
	return 0, 0
}

// AuditSearcher tells the admin socket where the log is.
func (v adminView) AuditSearcher() audit.Searcher { return v.auditSearch }

// emitAudit records an event of the auth role, logging and counting a
// failure.
func (n *node) emitAudit(ctx context.Context, e audit.Event) {
	n.countIssued(e)
	if n.audit == nil {
		return
	}
	if err := n.audit.Emit(ctx, e); err != nil {
		n.auditFailed.Add(1)
		n.logger.Error("audit event could not be recorded", "event", e.Event, "error", err)
	}
}

// emitAuditDurable records an event and returns once it is durable.
func (n *node) emitAuditDurable(ctx context.Context, e audit.Event) error {
	n.countIssued(e)
	if n.audit == nil {
		return fmt.Errorf("this keyway process keeps no audit log")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.audit.EmitDurable(ctx, e); err != nil {
		n.auditFailed.Add(1)
		n.logger.Error("audit event could not be recorded", "event", e.Event, "error", err)
		return err
	}
	return nil
}

// warnAuditOff says, at start, that database sessions are not fully
// recorded when db_events turns that off.
func warnAuditOff(cfg *config.Config, logger hclog.Logger) {
	if cfg.DB == nil {
		return
	}
	switch cfg.Audit.DBEvents {
	case config.AuditDBEventsSessions:
		logger.Warn("audit db_events = sessions: database statements are NOT recorded in the audit log, only session starts and ends")
	case config.AuditDBEventsNone:
		logger.Warn("audit db_events = none: database sessions are NOT recorded in the audit log at all: no starts, ends or statements")
	}
}

// countIssued counts the certificates the cluster issues
// (keyway_certificates_issued, by kind).
func (n *node) countIssued(e audit.Event) {
	if e.Event == audit.CertIssued && e.Success && n.metrics != nil {
		n.metrics.IncrCounterWithLabels([]string{"certificates", "issued"}, 1, []metrics.Label{{Name: "kind", Value: issuedKind(e.Code)}})
	}
}

// issuedKind names what a cert.issued event's code says was issued.
func issuedKind(code string) string {
	switch code {
	case "TC001":
		return "host"
	case "TC002":
		return "user"
	case "TC003":
		return "operator"
	case "TC004":
		return "db-client"
	}
	return "other"
}
