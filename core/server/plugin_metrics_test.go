package server

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/keyway-dev/keyway/core/diag"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// gather renders reg in the text format.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestPluginMetricsCountAcrossRestarts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := diag.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := newPluginMetrics(nil, m, hclog.NewNullLogger())
	stats := func(total, bytes, ok uint64, hist []uint64) *pluginv1.StatsResponse {
		var n uint64
		for _, c := range hist {
			n += c
		}
		return &pluginv1.StatsResponse{
			SessionsTotal: total, SessionsActive: 1, BytesFromClient: bytes, BytesToClient: 2 * bytes,
			Counters: []*pluginv1.Counter{
				{Name: "sessions_started", Labels: map[string]string{"result": "ok"}, Value: ok},
				{Name: "up", Value: 9},       // keyway's own name: skipped
				{Name: "Bad.Name", Value: 9}, // skipped
				{Name: "odd", Labels: map[string]string{"plugin": "x"}, Value: 9}, // skipped
			},
			Histograms: []*pluginv1.Histogram{{Name: "handshake_ms", Bounds: []float64{1, 10}, Counts: hist, Count: n, Sum: float64(n) * 2}},
		}
	}
	p.record("postgres", stats(3, 100, 3, []uint64{1, 2, 0}))
	p.record("postgres", stats(5, 150, 4, []uint64{1, 3, 1}))
	// The plugin restarted: its values start again from zero.
	p.forget("postgres")
	p.record("postgres", stats(2, 10, 2, []uint64{0, 1, 1}))
	out := gather(t, reg)
	for _, want := range []string{
		`keyway_plugin_sessions{plugin="postgres"} 7`,
		`keyway_plugin_sessions_active{plugin="postgres"} 1`,
		`keyway_plugin_bytes{direction="from_client",plugin="postgres"} 160`,
		`keyway_plugin_bytes{direction="to_client",plugin="postgres"} 320`,
		`keyway_plugin_sessions_started{plugin="postgres",result="ok"} 6`,
		`keyway_plugin_handshake_ms_bucket{le="1",plugin="postgres"} 1`,
		`keyway_plugin_handshake_ms_bucket{le="10",plugin="postgres"} 5`,
		`keyway_plugin_handshake_ms_bucket{le="+Inf",plugin="postgres"} 7`,
		`keyway_plugin_handshake_ms_count{plugin="postgres"} 7`,
		`keyway_plugin_handshake_ms_sum{plugin="postgres"} 14`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	for _, unwanted := range []string{"keyway_plugin_up", "Bad", "keyway_plugin_odd"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("exported %s", unwanted)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}
