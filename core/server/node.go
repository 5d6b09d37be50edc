package server

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/diag"
	"github.com/keyway-dev/keyway/core/supervisor"
)

// node is what the roles of one keyway process share, provisioned once
// before any role: the configuration, the logger, the plugin supervisor,
// the metrics and the audit log. It holds no role's state; each role gets
// the parts it uses from its constructor.
type node struct {
	cfg    *config.Config
	opts   Options
	logger hclog.Logger
	// cluster is the cluster's name: the configured one, or, on an agent
	// that joined through a proxy, the one it learned when joining.
	cluster string
	sup     *supervisor.Supervisor
	metrics *metrics.Metrics
	// registry collects the metrics that the diagnostic address serves;
	// nil without a diag block.
	registry *prometheus.Registry
	// pluginMetrics exports protocol plugins' statistics; nil without a
	// diag block.
	pluginMetrics *pluginMetrics
	// audit is the process's audit log; nil in a process that keeps none
	// (an agent records its sessions through its tunnel).
	audit AuditLog
	// auditFailed counts events the audit log refused.
	auditFailed atomic.Int64
	// rotations runs what follows an authority's phase change made in
	// this process: the auth role's trust pools and the proxy role's
	// certificates register with it.
	rotations rotationNotifier
}

// newNode provisions the shared parts: the metrics, the supervisor (whose
// plugins do not start yet) and the audit log. host answers the plugins'
// questions once they run.
func newNode(cfg *config.Config, opts Options, cluster string, host supervisor.HostBackend) (*node, error) {
	n := &node{cfg: cfg, opts: opts, logger: opts.Logger, cluster: cluster}
	n.sup = supervisor.New(supervisor.Options{
		Logger: opts.Logger, ClusterName: cluster, DataDir: cfg.DataDir, Policy: opts.Policy, Host: host,
		AuditMaxParameterBytes: cfg.Audit.MaxParameterBytes, AuditDBEvents: cfg.Audit.DBEvents,
	})
	if cfg.Diag != nil {
		n.registry = prometheus.NewRegistry()
	}
	m, err := diag.NewMetrics(n.registry)
	if err != nil {
		return nil, fmt.Errorf("creating the metrics: %w", err)
	}
	n.metrics = m
	if n.registry != nil {
		n.pluginMetrics = newPluginMetrics(n.sup, m, n.logger.Named("metrics"))
	}
	if keepsAuditLog(cfg) {
		sink, err := OpenAuditLog(cfg, n.logger.Named("audit"))
		if err != nil {
			return nil, fmt.Errorf("opening the audit log: %w", err)
		}
		if err := sink.Healthy(); err != nil {
			n.logger.Error("the audit log cannot be written yet; keyway keeps trying", "error", err, "on_failure", cfg.Audit.OnFailure)
		}
		n.audit = sink
	}
	return n, nil
}

// close closes the audit log, which records what it can of its queue.
// It runs last, after the plugins stopped and their audit pipes were
// drained into the log.
func (n *node) close() {
	if n.audit == nil {
		return
	}
	if err := n.audit.Close(); err != nil {
		n.logger.Error("audit events were lost at shutdown", "error", err)
	}
}

// roles names the roles the configuration enables.
func (n *node) roles() string {
	var r []string
	if n.cfg.Auth != nil {
		r = append(r, "auth")
	}
	if n.cfg.Proxy != nil {
		r = append(r, "proxy")
	}
	if n.cfg.DB != nil {
		r = append(r, "db")
	}
	return strings.Join(r, ",")
}

// observeDecision reports an authorisation decision's latency and result.
func (n *node) observeDecision(action string, allow bool, took time.Duration) {
	result := "deny"
	if allow {
		result = "allow"
	}
	labels := []metrics.Label{{Name: "action", Value: action}, {Name: "result", Value: result}}
	n.metrics.IncrCounterWithLabels([]string{"authz", "decisions"}, 1, labels)
	n.metrics.AddSampleWithLabels([]string{"authz", "latency"}, float32(took.Seconds()*1000), labels)
}

// pluginsReady fails while a plugin is not running.
func (n *node) pluginsReady() error {
	for _, st := range n.sup.Status() {
		if st.State != supervisor.StateRunning {
			return fmt.Errorf("plugin %s is %s", st.Name, st.State)
		}
	}
	return nil
}

// auditReady fails while the audit log cannot record and on_failure =
// deny refuses new sessions for it.
func (n *node) auditReady() error {
	if n.audit == nil || n.cfg.Audit.OnFailure != config.AuditOnFailureDeny {
		return nil
	}
	if err := n.audit.Healthy(); err != nil {
		return fmt.Errorf("the audit log is unavailable (on_failure = deny): %w", err)
	}
	return nil
}

// hasProtocol reports whether this process runs a plugin of the
// protocol called name.
func (n *node) hasProtocol(name string) bool {
	_, err := n.sup.Protocol(name)
	return err == nil
}

// keepsAuditLog reports whether a process writes an audit log of its
// own: one that serves sessions or keeps the cluster's records, unless
// it is an agent, whose sessions are recorded in the cluster's log
// through its tunnel.
func keepsAuditLog(cfg *config.Config) bool {
	return (cfg.DB != nil || cfg.Auth != nil) && !agentOnly(cfg)
}

// serveUntil runs serve until ctx ends, then calls stop and waits for
// serve to return. An error from serve before ctx ends is returned.
func serveUntil(ctx context.Context, serve func() error, stop func()) error {
	done := make(chan error, 1)
	go func() { done <- serve() }()
	select {
	case err := <-done:
		if ctx.Err() == nil {
			return err
		}
		return nil
	case <-ctx.Done():
		stop()
		<-done
		return nil
	}
}
