package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// idleResult is keyway's memory per idle session on one path.
type idleResult struct {
	// Path names the topology: "keyway" (all-in-one) or "keyway-agent".
	Path     string `json:"path"`
	Sessions int    `json:"sessions"`
	// Processes are keyway's processes on the path, each with its RSS
	// before and after the sessions opened.
	Processes []processRSS `json:"processes"`
	// OpenSeconds is how long opening all sessions took.
	OpenSeconds float64 `json:"open_seconds"`
}

// processRSS is one process's RSS in KiB with none and with all sessions
// open.
type processRSS struct {
	Name      string `json:"name"`
	pid       int
	BeforeKiB int64 `json:"before_kib"`
	AfterKiB  int64 `json:"after_kib"`
}

// perSessionKiB is the process's growth per session.
func (p processRSS) perSessionKiB(sessions int) float64 {
	return float64(p.AfterKiB-p.BeforeKiB) / float64(sessions)
}

// totalKiB is the growth per session of all the path's processes.
func (r idleResult) totalKiB() float64 {
	var t float64
	for _, p := range r.Processes {
		t += p.perSessionKiB(r.Sessions)
	}
	return t
}

// openers is how many sessions are opened at once.
const openers = 8

// measureIdle opens n idle sessions through ep and reads the RSS of
// procs before and after. The endpoint is pinged first, so one-time
// setup (the plugin's database certificate, the policy) is not counted
// per session.
func measureIdle(ctx context.Context, path string, procs []processRSS, ep endpoint, n int) (idleResult, error) {
	if err := ep.ping(ctx); err != nil {
		return idleResult{}, err
	}
	r := idleResult{Path: path, Sessions: n, Processes: procs}
	var err error
	for i := range r.Processes {
		if r.Processes[i].BeforeKiB, err = rssKiB(r.Processes[i].pid); err != nil {
			return r, err
		}
	}
	t0 := time.Now()
	conns, err := openSessions(ctx, ep, n)
	defer closeAll(conns)
	if err != nil {
		return r, err
	}
	r.OpenSeconds = time.Since(t0).Seconds()
	for i := range r.Processes {
		if r.Processes[i].AfterKiB, err = rssKiB(r.Processes[i].pid); err != nil {
			return r, err
		}
	}
	return r, nil
}

// openSessions connects n times, openers at a time, and returns every
// connection it made, also on error.
func openSessions(ctx context.Context, ep endpoint, n int) ([]*pgx.Conn, error) {
	conns := make([]*pgx.Conn, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range openers {
		wg.Go(func() {
			for i := range next {
				conns[i], errs[i] = ep.connect(ctx)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	var open []*pgx.Conn
	var first error
	for i, c := range conns {
		if c != nil {
			open = append(open, c)
		}
		if errs[i] != nil && first == nil {
			first = fmt.Errorf("session %d of %d: %w", i+1, n, errs[i])
		}
	}
	return open, first
}

func closeAll(conns []*pgx.Conn) {
	for _, c := range conns {
		_ = c.Close(context.Background())
	}
}
