package sdk

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// metricName is what a metric or label name must look like.
var metricName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Metrics holds a protocol plugin's own counters and histograms. The host
// reads them, cumulative since the plugin started, with the Stats call it
// already makes for its plugin listing and its metrics endpoint, so
// counting costs no call between processes. A Session's Metrics is
// shared by all sessions of the plugin.
//
// Names and label names must match [a-z_][a-z0-9_]*; the host exports a
// counter "sessions_started" of plugin "postgres" as
// keyway_plugin_sessions_started{plugin="postgres",...}. Invalid names
// panic, as they are programming errors.
type Metrics struct {
	mu         sync.Mutex
	counters   map[string]*Counter
	histograms map[string]*Histogram
}

// NewMetrics returns an empty set of metrics.
func NewMetrics() *Metrics {
	return &Metrics{counters: map[string]*Counter{}, histograms: map[string]*Histogram{}}
}

// Counter is a count that only goes up.
type Counter struct {
	name   string
	labels map[string]string
	v      atomic.Uint64
}

// Add adds n to the counter.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Histogram counts observed values into buckets.
type Histogram struct {
	name   string
	labels map[string]string
	bounds []float64

	mu     sync.Mutex
	counts []uint64
	count  uint64
	sum    float64
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	h.mu.Lock()
	h.counts[i]++
	h.count++
	h.sum += v
	h.mu.Unlock()
}

// Counter returns the counter called name with the given labels (name,
// value pairs), creating it at zero.
func (m *Metrics) Counter(name string, labels ...string) *Counter {
	key, l := metricKey(name, labels)
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counters[key]
	if !ok {
		c = &Counter{name: name, labels: l}
		m.counters[key] = c
	}
	return c
}

// Histogram returns the histogram called name with the given labels,
// creating it with bounds (ascending upper bounds of its buckets) the
// first time. Later calls for the same name and labels return the same
// histogram whatever bounds they pass.
func (m *Metrics) Histogram(name string, bounds []float64, labels ...string) *Histogram {
	key, l := metricKey(name, labels)
	if !slices.IsSorted(bounds) || slices.ContainsFunc(bounds, math.IsNaN) {
		panic(fmt.Sprintf("sdk: histogram %s: bounds must be ascending numbers", name))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.histograms[key]
	if !ok {
		h = &Histogram{name: name, labels: l, bounds: slices.Clone(bounds), counts: make([]uint64, len(bounds)+1)}
		m.histograms[key] = h
	}
	return h
}

// metricKey checks a name and its labels and returns a key that
// identifies them.
func metricKey(name string, labels []string) (string, map[string]string) {
	if !metricName.MatchString(name) {
		panic(fmt.Sprintf("sdk: metric name %q must match %s", name, metricName))
	}
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("sdk: metric %s: labels come in name, value pairs", name))
	}
	l := make(map[string]string, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		if !metricName.MatchString(labels[i]) || labels[i] == "plugin" {
			panic(fmt.Sprintf("sdk: metric %s: label name %q must match %s and not be \"plugin\"", name, labels[i], metricName))
		}
		l[labels[i]] = labels[i+1]
	}
	names := make([]string, 0, len(l))
	for k := range l {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range names {
		b.WriteString("\x00" + k + "\x00" + l[k])
	}
	return b.String(), l
}

// snapshot returns the metrics' current values for Stats.
func (m *Metrics) snapshot() ([]*pluginv1.Counter, []*pluginv1.Histogram) {
	if m == nil {
		return nil, nil
	}
	m.mu.Lock()
	counters := make([]*Counter, 0, len(m.counters))
	for _, c := range m.counters {
		counters = append(counters, c)
	}
	hists := make([]*Histogram, 0, len(m.histograms))
	for _, h := range m.histograms {
		hists = append(hists, h)
	}
	m.mu.Unlock()
	outC := make([]*pluginv1.Counter, 0, len(counters))
	for _, c := range counters {
		outC = append(outC, &pluginv1.Counter{Name: c.name, Labels: c.labels, Value: c.v.Load()})
	}
	outH := make([]*pluginv1.Histogram, 0, len(hists))
	for _, h := range hists {
		h.mu.Lock()
		outH = append(outH, &pluginv1.Histogram{
			Name: h.name, Labels: h.labels, Bounds: h.bounds,
			Counts: slices.Clone(h.counts), Count: h.count, Sum: h.sum,
		})
		h.mu.Unlock()
	}
	return outC, outH
}
