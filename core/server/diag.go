package server

import (
	"context"
	"fmt"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/diag"
	"github.com/keyway-dev/keyway/core/supervisor"
)

// startDiag creates the process's metrics and, when configured, serves
// them with health checks. The returned stop function ends both.
func (n *node) startDiag() (*metrics.Metrics, error) {
	var reg *prometheus.Registry
	if n.cfg.Diag != nil {
		reg = prometheus.NewRegistry()
	}
	m, err := diag.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	if reg == nil {
		return m, nil
	}
	n.pluginMetrics = newPluginMetrics(n.sup, m, n.logger.Named("metrics"))
	srv, err := diag.Listen(n.cfg.Diag.Listen, reg, n.ready, n.pluginMetrics.pull)
	if err != nil {
		return nil, fmt.Errorf("the diagnostic address %s: %w", n.cfg.Diag.Listen, err)
	}
	go func() { _ = srv.Serve() }()
	ctx, cancel := context.WithCancel(context.Background())
	n.report = func() { go n.reportPlugins(ctx, m) }
	n.stop = append(n.stop, func() {
		cancel()
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	})
	n.logger.Info("diagnostics listening", "address", srv.Addr().String())
	return m, nil
}

// ready reports whether the process can do its work: every plugin runs
// and, for an agent, a tunnel to at least one proxy is up.
func (n *node) ready(context.Context) error {
	for _, st := range n.sup.Status() {
		if st.State != supervisor.StateRunning {
			return fmt.Errorf("plugin %s is %s", st.Name, st.State)
		}
	}
	if err := n.acceptReady(); err != nil {
		return err
	}
	if n.remote != nil && !n.remote.Connected() {
		return fmt.Errorf("no tunnel to a proxy is up")
	}
	if healthy := n.auditHealthy.Load(); healthy != nil && n.cfg.Audit.OnFailure == config.AuditOnFailureDeny {
		// New sessions would be refused.
		if err := (*healthy)(); err != nil {
			return fmt.Errorf("the audit log is unavailable (on_failure = deny): %w", err)
		}
	}
	return nil
}

// acceptReady fails while the proxy or a listener cannot accept
// connections for want of descriptors or memory: sessions already open
// go on, but new clients wait.
func (n *node) acceptReady() error {
	const why = "cannot accept connections: keyway is out of file descriptors or memory (see keyway status for the open file limit)"
	if p := n.proxyRole.Load(); p != nil && p.Saturated() {
		return fmt.Errorf("the proxy %s", why)
	}
	if ls := n.listeners.Load(); ls != nil {
		for _, l := range *ls {
			if l.Saturated() {
				return fmt.Errorf("listener %s %s", l.Name, why)
			}
		}
	}
	return nil
}

// reportAccept sets, for the proxy and each listener, whether it cannot
// accept for want of descriptors, and the proxy's connections in their
// handshake.
func (n *node) reportAccept(m *metrics.Metrics) {
	saturated := func(name string, on bool) {
		v := float32(0)
		if on {
			v = 1
		}
		m.SetGaugeWithLabels([]string{"accept", "saturated"}, v, []metrics.Label{{Name: "listener", Value: name}})
	}
	if p := n.proxyRole.Load(); p != nil {
		saturated("proxy", p.Saturated())
		m.SetGauge([]string{"proxy", "connections", "unauthenticated"}, float32(p.Unauthenticated()))
	}
	if ls := n.listeners.Load(); ls != nil {
		for _, l := range *ls {
			saturated("listener "+l.Name, l.Saturated())
		}
	}
}

// reportPlugins sets the plugin and audit gauges, and reads the plugins'
// own metrics, every few seconds.
func (n *node) reportPlugins(ctx context.Context, m *metrics.Metrics) {
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
		m.SetGauge([]string{"audit", "events_failed"}, float32(n.backend.auditFailed.Load()))
		n.reportTunnels(m)
		n.reportAccept(m)
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

// reportTunnels sets, on an agent, one gauge per wanted proxy: 1 while
// its tunnel is up.
func (n *node) reportTunnels(m *metrics.Metrics) {
	if n.tunnelsOut == nil {
		return
	}
	up := 0
	for _, st := range n.tunnelsOut.Status() {
		v := float32(0)
		if st.Up {
			v, up = 1, up+1
		}
		m.SetGaugeWithLabels([]string{"agent", "tunnel", "up"}, v, []metrics.Label{{Name: "proxy", Value: st.Proxy}})
	}
	m.SetGauge([]string{"agent", "tunnels", "up"}, float32(up))
}
