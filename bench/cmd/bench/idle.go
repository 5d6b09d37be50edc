package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// idleResult is keyway's memory per idle session.
type idleResult struct {
	Sessions int `json:"sessions"`
	// Before and After are RSS in KiB with none and with all sessions
	// open, for the keyway process and its postgres plugin.
	KeywayBeforeKiB int64 `json:"keyway_before_kib"`
	KeywayAfterKiB  int64 `json:"keyway_after_kib"`
	PluginBeforeKiB int64 `json:"plugin_before_kib"`
	PluginAfterKiB  int64 `json:"plugin_after_kib"`
	// OpenSeconds is how long opening all sessions took.
	OpenSeconds float64 `json:"open_seconds"`
}

// perSessionKiB is the growth of keyway and its plugin per session.
func (r idleResult) perSessionKiB() (keyway, plugin, total float64) {
	n := float64(r.Sessions)
	keyway = float64(r.KeywayAfterKiB-r.KeywayBeforeKiB) / n
	plugin = float64(r.PluginAfterKiB-r.PluginBeforeKiB) / n
	return keyway, plugin, keyway + plugin
}

// openers is how many sessions are opened at once.
const openers = 8

// measureIdle opens n idle sessions through keyway and reads the RSS of
// keyway and its postgres plugin before and after. One session is opened
// and closed first, so one-time setup (the plugin's database certificate,
// the policy) is not counted per session.
func measureIdle(ctx context.Context, keyway, plugin int, ep endpoint, n int) (idleResult, error) {
	if err := ep.ping(ctx); err != nil {
		return idleResult{}, err
	}
	r := idleResult{Sessions: n}
	var err error
	if r.KeywayBeforeKiB, err = rssKiB(keyway); err != nil {
		return r, err
	}
	if r.PluginBeforeKiB, err = rssKiB(plugin); err != nil {
		return r, err
	}
	t0 := time.Now()
	conns, err := openSessions(ctx, ep, n)
	defer closeAll(conns)
	if err != nil {
		return r, err
	}
	r.OpenSeconds = time.Since(t0).Seconds()
	if r.KeywayAfterKiB, err = rssKiB(keyway); err != nil {
		return r, err
	}
	if r.PluginAfterKiB, err = rssKiB(plugin); err != nil {
		return r, err
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
