package server

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// pluginMetricName is what a plugin's own metric and label names must
// look like to be exported.
var pluginMetricName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// reservedPluginMetrics are the core's own plugin_* metrics, which a
// plugin's metrics may not replace.
var reservedPluginMetrics = []string{"up", "restarts", "sessions", "sessions_active", "bytes"}

// pluginMetrics exports protocol plugins' statistics as the process's
// metrics, labelled with the plugin's name. It reads them with the Stats
// call that keyway plugins ls uses, so counting costs the plugin no call
// per event. Plugins report cumulative values; the core adds the growth
// since its last read to its own counters, so they keep counting across
// plugin restarts.
type pluginMetrics struct {
	sup    *supervisor.Supervisor
	m      *metrics.Metrics
	logger hclog.Logger

	mu      sync.Mutex
	last    map[string]float64 // a series' cumulative value at the last read
	pids    map[string]int     // each plugin's process at the last read
	skipped map[string]bool    // metrics refused, logged once
}

func newPluginMetrics(sup *supervisor.Supervisor, m *metrics.Metrics, logger hclog.Logger) *pluginMetrics {
	return &pluginMetrics{sup: sup, m: m, logger: logger, last: map[string]float64{}, pids: map[string]int{}, skipped: map[string]bool{}}
}

// pull reads every running protocol plugin's statistics and updates the
// metrics.
func (p *pluginMetrics) pull(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.sup.Status() {
		if st.State != supervisor.StateRunning || st.Kind != sdk.KindProtocol.String() {
			continue
		}
		resp, err := protocolStats(ctx, p.sup, st.Name)
		if err != nil {
			continue
		}
		if p.pids[st.Name] != st.PID {
			p.forget(st.Name)
			p.pids[st.Name] = st.PID
		}
		p.record(st.Name, resp)
	}
}

// forget drops a plugin's last values: a new process counts from zero.
func (p *pluginMetrics) forget(plugin string) {
	for k := range p.last {
		if strings.HasPrefix(k, plugin+"\x00") {
			delete(p.last, k)
		}
	}
}

// record exports one plugin's statistics.
func (p *pluginMetrics) record(plugin string, st *pluginv1.StatsResponse) {
	base := []metrics.Label{{Name: "plugin", Value: plugin}}
	p.m.SetGaugeWithLabels([]string{"plugin", "sessions_active"}, float32(st.GetSessionsActive()), base)
	p.add(plugin, "sessions", base, float64(st.GetSessionsTotal()))
	p.add(plugin, "bytes", append(slices.Clone(base), metrics.Label{Name: "direction", Value: "from_client"}), float64(st.GetBytesFromClient()))
	p.add(plugin, "bytes", append(slices.Clone(base), metrics.Label{Name: "direction", Value: "to_client"}), float64(st.GetBytesToClient()))
	for _, c := range st.GetCounters() {
		labels, ok := p.labels(plugin, c.GetName(), c.GetLabels())
		if ok {
			p.add(plugin, c.GetName(), labels, float64(c.GetValue()))
		}
	}
	for _, h := range st.GetHistograms() {
		labels, ok := p.labels(plugin, h.GetName(), h.GetLabels())
		if !ok || len(h.GetCounts()) != len(h.GetBounds())+1 {
			continue
		}
		var cumulative uint64
		for i, c := range h.GetCounts() {
			cumulative += c
			le := "+Inf"
			if i < len(h.GetBounds()) {
				le = strconv.FormatFloat(h.GetBounds()[i], 'g', -1, 64)
			}
			p.add(plugin, h.GetName()+"_bucket", append(slices.Clone(labels), metrics.Label{Name: "le", Value: le}), float64(cumulative))
		}
		p.add(plugin, h.GetName()+"_sum", labels, h.GetSum())
		p.add(plugin, h.GetName()+"_count", labels, float64(h.GetCount()))
	}
}

// labels checks a plugin metric's name and labels and returns them with
// the plugin's name, sorted. A metric that cannot be exported is logged
// once and skipped.
func (p *pluginMetrics) labels(plugin, name string, given map[string]string) ([]metrics.Label, bool) {
	ok := pluginMetricName.MatchString(name) && !slices.Contains(reservedPluginMetrics, name)
	names := make([]string, 0, len(given))
	for k := range given {
		ok = ok && pluginMetricName.MatchString(k) && k != "plugin" && k != "le"
		names = append(names, k)
	}
	if !ok {
		if key := plugin + "/" + name; !p.skipped[key] {
			p.skipped[key] = true
			p.logger.Warn("a plugin's metric cannot be exported: names must match [a-z_][a-z0-9_]*, not be one of keyway's own, and labels may not be plugin or le",
				"plugin", plugin, "metric", name)
		}
		return nil, false
	}
	slices.Sort(names)
	out := []metrics.Label{{Name: "plugin", Value: plugin}}
	for _, k := range names {
		out = append(out, metrics.Label{Name: k, Value: given[k]})
	}
	return out, true
}

// add raises the counter by the growth of a cumulative value since the
// last read; a smaller value means the plugin started over.
func (p *pluginMetrics) add(plugin, name string, labels []metrics.Label, value float64) {
	var k strings.Builder
	k.WriteString(plugin + "\x00" + name)
	for _, l := range labels {
		k.WriteString("\x00" + l.Name + "=" + l.Value)
	}
	prev := p.last[k.String()]
	delta := value - prev
	if value < prev {
		delta = value
	}
	p.last[k.String()] = value
	p.m.IncrCounterWithLabels([]string{"plugin", name}, float32(delta), labels)
}

// protocolStats asks a running protocol plugin for its statistics.
func protocolStats(ctx context.Context, sup *supervisor.Supervisor, name string) (*pluginv1.StatsResponse, error) {
	in, err := sup.Instance(name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := in.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return conn.Protocol.Stats(ctx, &pluginv1.StatsRequest{})
}
