package server

import (
	"context"
	"fmt"
	"time"

	metrics "github.com/armon/go-metrics"

	"github.com/keyway-dev/keyway/core/diag"
	"github.com/keyway-dev/keyway/core/supervisor"
)

// part is what a role adds to the diagnostics: its readiness and its
// gauges.
type part interface {
	// ready returns why the part cannot do its work now, or nil.
	ready() error
	// report sets the part's gauges.
	report(m *metrics.Metrics)
}

// diagServer serves the process's metrics and health checks on the diag
// block's address, and sets the gauges that are read rather than
// counted.
type diagServer struct {
	n     *node
	parts []part
	srv   *diag.Server
}

// newDiag binds the diagnostic address, if the configuration has one,
// for a process made of parts.
func newDiag(n *node, parts []part) (*diagServer, error) {
	d := &diagServer{n: n, parts: parts}
	if n.registry == nil {
		return d, nil
	}
	srv, err := diag.Listen(n.cfg.Diag.Listen, n.registry, d.ready, n.pluginMetrics.pull)
	if err != nil {
		return nil, fmt.Errorf("the diagnostic address %s: %w", n.cfg.Diag.Listen, err)
	}
	d.srv = srv
	return d, nil
}

// Run serves until ctx ends, then stops serving.
func (d *diagServer) Run(ctx context.Context) error {
	if d.srv == nil {
		<-ctx.Done()
		return nil
	}
	d.n.logger.Info("diagnostics listening", "address", d.srv.Addr().String())
	reported := make(chan struct{})
	go func() { d.reportPlugins(ctx); close(reported) }()
	defer func() { <-reported }()
	return serveUntil(ctx, d.srv.Serve, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.srv.Shutdown(sctx)
	})
}

// ready reports whether the process can do its work: every plugin runs,
// the audit log records when on_failure = deny needs it, and every role
// is ready (for an agent, a tunnel to at least one proxy is up).
func (d *diagServer) ready(context.Context) error {
	if err := d.n.pluginsReady(); err != nil {
		return err
	}
	for _, p := range d.parts {
		if err := p.ready(); err != nil {
			return err
		}
	}
	return d.n.auditReady()
}

// reportPlugins sets the plugin, audit and roles' gauges, and reads the
// plugins' own metrics, every few seconds.
func (d *diagServer) reportPlugins(ctx context.Context) {
	n, m := d.n, d.n.metrics
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if n.audit != nil {
			written, depth := auditStats(n.audit)
			m.SetGauge([]string{"audit", "queue_depth"}, float32(depth))
			m.SetGauge([]string{"audit", "events_written"}, float32(written))
			healthy := float32(1)
			if n.audit.Healthy() != nil {
				healthy = 0
			}
			m.SetGauge([]string{"audit", "healthy"}, healthy)
		}
		m.SetGauge([]string{"audit", "events_failed"}, float32(n.auditFailed.Load()))
		for _, p := range d.parts {
			p.report(m)
		}
		for _, st := range n.sup.Status() {
			labels := []metrics.Label{{Name: "plugin", Value: st.Name}, {Name: "kind", Value: st.Kind}}
			up := float32(0)
			if st.State == supervisor.StateRunning {
				up = 1
			}
			m.SetGaugeWithLabels([]string{"plugin", "up"}, up, labels)
			m.SetGaugeWithLabels([]string{"plugin", "restarts"}, float32(st.Restarts), labels)
		}
		n.pluginMetrics.pull(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
