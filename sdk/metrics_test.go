package sdk

import (
	"slices"
	"testing"
)

func TestMetricsSnapshot(t *testing.T) {
	m := NewMetrics()
	m.Counter("sessions_started", "result", "ok").Add(2)
	m.Counter("sessions_started", "result", "ok").Add(1)
	m.Counter("sessions_started", "result", "denied").Add(1)
	h := m.Histogram("latency_ms", []float64{1, 10, 100})
	for _, v := range []float64{0.5, 1, 5, 10, 50, 1000} {
		h.Observe(v)
	}
	if m.Histogram("latency_ms", []float64{7}) != h {
		t.Fatal("a second lookup made another histogram")
	}
	counters, hists := m.snapshot()
	got := map[string]uint64{}
	for _, c := range counters {
		got[c.GetName()+"/"+c.GetLabels()["result"]] = c.GetValue()
	}
	if len(got) != 2 || got["sessions_started/ok"] != 3 || got["sessions_started/denied"] != 1 {
		t.Fatalf("counters: %v", got)
	}
	if len(hists) != 1 {
		t.Fatalf("%d histograms", len(hists))
	}
	hp := hists[0]
	// Buckets: <=1, <=10, <=100, above.
	if !slices.Equal(hp.GetCounts(), []uint64{2, 2, 1, 1}) || hp.GetCount() != 6 || hp.GetSum() != 1066.5 {
		t.Fatalf("histogram: counts %v count %d sum %v", hp.GetCounts(), hp.GetCount(), hp.GetSum())
	}
}

func TestMetricsRefuseBadNames(t *testing.T) {
	tests := []struct {
		name string
		f    func(m *Metrics)
	}{
		{"upper case", func(m *Metrics) { m.Counter("Sessions") }},
		{"dot", func(m *Metrics) { m.Counter("sessions.started") }},
		{"odd labels", func(m *Metrics) { m.Counter("x", "result") }},
		{"plugin label", func(m *Metrics) { m.Counter("x", "plugin", "y") }},
		{"unsorted bounds", func(m *Metrics) { m.Histogram("x_ms", []float64{10, 1}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.f(NewMetrics())
		})
	}
}
