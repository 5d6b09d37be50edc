package main

import (
	"slices"
	"strings"
	"testing"
)

func TestMedianStream(t *testing.T) {
	round := func(seconds float64, peak int64) streamResult {
		return streamResult{Path: "keyway", Bytes: 1000, Seconds: seconds, BaseKiB: 10, PeakKiB: peak}
	}
	tests := []struct {
		name     string
		rounds   []streamResult
		seconds  float64
		peak     int64
		wantRuns []float64
	}{
		{"one round", []streamResult{round(2, 50)}, 2, 50, []float64{2}},
		{"odd: the middle time", []streamResult{round(3, 40), round(1, 60), round(2, 50)}, 2, 60, []float64{3, 1, 2}},
		{"even: the slower middle", []streamResult{round(4, 10), round(1, 10), round(2, 90), round(3, 10)}, 3, 90, []float64{4, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.rounds)
			got := medianStream(tt.rounds)
			if got.Seconds != tt.seconds || got.PeakKiB != tt.peak || !slices.Equal(got.Rounds, tt.wantRuns) {
				t.Fatalf("medianStream = %.0f s, peak %d, rounds %v; want %.0f s, peak %d, rounds %v",
					got.Seconds, got.PeakKiB, got.Rounds, tt.seconds, tt.peak, tt.wantRuns)
			}
			if !slices.EqualFunc(in, tt.rounds, func(a, b streamResult) bool { return a.Seconds == b.Seconds }) {
				t.Fatal("medianStream reordered its argument")
			}
		})
	}
}

func TestPrintMemoryStreams(t *testing.T) {
	m := memoryReport{Stream: []streamResult{
		{Path: directName, Bytes: 200_000_000, Seconds: 0.4, Rounds: []float64{0.5, 0.4, 0.3}},
		{Path: "keyway", Bytes: 200_000_000, Seconds: 0.5, Rounds: []float64{0.5, 0.6, 0.4}, BaseKiB: 1024, PeakKiB: 2048},
		{Path: floor1Name, Bytes: 200_000_000, Seconds: 0.8},
	}}
	var b strings.Builder
	printMemory(&b, m)
	for _, want := range []string{
		"direct-tls   200 MB in 0.40 s, 500 MB/s (median of 3 rounds)\n",
		"keyway       200 MB in 0.50 s, 400 MB/s (median of 3 rounds; 0.80 of direct), keyway+plugin RSS 1.0 MiB before, peak 2.0 MiB\n",
		"floor-1hop   200 MB in 0.80 s, 250 MB/s (0.50 of direct)\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
