package server

import (
	"context"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/audit/file"
	"github.com/keyway-dev/keyway/core/config"
)

// auditPath is where the process's audit log lives.
func (n *node) auditPath() string {
	return n.cfg.Audit.Path
}

// openAudit opens the JSON-lines audit log of a process that serves
// sessions or keeps the cluster's records.
func (n *node) openAudit() error {
	if n.cfg.DB == nil && n.cfg.Auth == nil {
		return nil
	}
	if agentOnly(n.cfg) {
		// An agent's sessions are recorded in the cluster's log, through
		// its tunnel; on_failure applies when the tunnel is down.
		n.backend.audit = n.remote
		n.backend.auditAllow = n.cfg.Audit.OnFailure == config.AuditOnFailureAllow
		n.backend.logger = n.logger
		return nil
	}
	a := n.cfg.Audit
	sink, err := file.Open(file.Options{
		Path: n.auditPath(), Fsync: a.Fsync, MaxSizeBytes: a.MaxSizeBytes(), MaxFiles: a.MaxFiles, Cluster: n.cfg.ClusterName,
	})
	if err != nil {
		return err
	}
	n.audit = sink
	n.backend.audit = sink
	n.backend.auditAllow = a.OnFailure == config.AuditOnFailureAllow
	n.backend.logger = n.logger
	n.stop = append(n.stop, func() { _ = sink.Close() })
	return nil
}

// AuditPath tells the admin socket where the log is.
func (v adminView) AuditPath() string { return v.auditPath }

// emitAudit records an event of the auth role, logging a failure.
func (n *node) emitAudit(ctx context.Context, e audit.Event) {
	if n.audit == nil {
		return
	}
	if err := n.audit.Emit(ctx, e); err != nil {
		n.logger.Error("audit event could not be recorded", "event", e.Event, "error", err)
	}
}
