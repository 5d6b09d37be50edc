package main

import (
	"context"
	"fmt"
	"time"
)

// rowBytes is the width of each streamed row's one column.
const rowBytes = 1000

// streamResult is one large result read through one path.
type streamResult struct {
	Path    string  `json:"path"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// BaseKiB and PeakKiB are the sampled RSS of keyway and its plugin
	// together before and during the query; zero for direct TLS.
	BaseKiB int64 `json:"base_kib,omitempty"`
	PeakKiB int64 `json:"peak_kib,omitempty"`
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
		return r, fmt.Errorf("streaming through %s: %w", name, err)
	}
	if want := total / rowBytes * rowBytes; r.Bytes != want {
		return r, fmt.Errorf("streaming through %s: read %d bytes, want %d", name, r.Bytes, want)
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
