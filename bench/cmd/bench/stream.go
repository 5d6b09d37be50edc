package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// rowBytes is the width of each streamed row's one column.
const rowBytes = 1000

// streamResult is one large result read through one path: the median
// of its rounds.
type streamResult struct {
	Path    string  `json:"path"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// Rounds holds each round's seconds, in the order they ran.
	Rounds []float64 `json:"rounds,omitempty"`
	// BaseKiB and PeakKiB are the sampled RSS of keyway and its plugin
	// together before and during the query; zero for direct TLS.
	BaseKiB int64 `json:"base_kib,omitempty"`
	PeakKiB int64 `json:"peak_kib,omitempty"`
}

// streamPath is a path a large result is read through; pids are the
// processes whose RSS is sampled meanwhile.
type streamPath struct {
	name string
	ep   endpoint
	pids []int
}

// measureStreams reads the large result through every path, one path
// after the other in each of rounds rounds, so that a machine whose speed
// drifts weighs on every path alike, and reports each path's median
// round, with the highest RSS of all its rounds. A path that fails once
// is reported as an error and not measured again.
func measureStreams(ctx context.Context, paths []streamPath, total int64, rounds int) ([]streamResult, []string) {
	byPath := make([][]streamResult, len(paths))
	failed := make([]bool, len(paths))
	var errs []string
	for range rounds {
		for i, p := range paths {
			if failed[i] {
				continue
			}
			r, err := measureStream(ctx, p.name, p.ep, total, p.pids...)
			if err != nil {
				failed[i] = true
				errs = append(errs, fmt.Sprintf("streaming through %s: %v", p.name, err))
				continue
			}
			byPath[i] = append(byPath[i], r)
		}
	}
	var out []streamResult
	for _, rs := range byPath {
		if len(rs) > 0 {
			out = append(out, medianStream(rs))
		}
	}
	return out, errs
}

// medianStream is the round with the median time (the slower of the
// middle two for an even count), with every round's seconds and the
// highest peak RSS of them all.
func medianStream(rs []streamResult) streamResult {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b streamResult) int { return cmp.Compare(a.Seconds, b.Seconds) })
	m := sorted[len(sorted)/2]
	m.Rounds = nil
	for _, r := range rs {
		m.Rounds = append(m.Rounds, r.Seconds)
		m.PeakKiB = max(m.PeakKiB, r.PeakKiB)
	}
	return m
}

// mbPerSecond is the throughput in 10^6 bytes per second.
func (r streamResult) mbPerSecond() float64 { return float64(r.Bytes) / 1e6 / r.Seconds }

// sampleEvery is how often RSS is sampled while streaming.
const sampleEvery = 10 * time.Millisecond

// measureStream reads total bytes of rows (select repeat('x', 1000) from
// generate_series) through ep with pgx, reading every value. When pids
// are given, their summed RSS is sampled meanwhile.
func measureStream(ctx context.Context, name string, ep endpoint, total int64, pids ...int) (streamResult, error) {
	conn, err := ep.connect(ctx)
	if err != nil {
		return streamResult{}, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	r := streamResult{Path: name}
	var sampler *rssSampler
	if len(pids) > 0 {
		if r.BaseKiB, err = totalRSSKiB(pids...); err != nil {
			return r, err
		}
		sampler = startSampler(pids)
	}
	sql := fmt.Sprintf("select repeat('x', %d) from generate_series(1, %d)", rowBytes, total/rowBytes)
	t0 := time.Now()
	rr := conn.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil)
	for rr.NextRow() {
		for _, v := range rr.Values() {
			r.Bytes += int64(len(v))
		}
	}
	_, err = rr.Close()
	r.Seconds = time.Since(t0).Seconds()
	if sampler != nil {
		r.PeakKiB = sampler.stop()
	}
	if err != nil {
		return r, err
	}
	if want := total / rowBytes * rowBytes; r.Bytes != want {
		return r, fmt.Errorf("read %d bytes, want %d", r.Bytes, want)
	}
	return r, nil
}

// rssSampler records the peak of summed RSS until stopped.
type rssSampler struct {
	done chan struct{}
	peak chan int64
}

func startSampler(pids []int) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), peak: make(chan int64, 1)}
	go func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		var peak int64
		for {
			if n, err := totalRSSKiB(pids...); err == nil {
				peak = max(peak, n)
			}
			select {
			case <-s.done:
				s.peak <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the peak in KiB.
func (s *rssSampler) stop() int64 {
	close(s.done)
	return <-s.peak
}
