package main

import (
	"context"
	"fmt"
	"time"
)

// measureMemory runs the memory measurements through the keyway path:
// RSS per idle session, then a large result over direct TLS, through
// floor-1hop when it runs (the rate a bare relay reaches), and through
// keyway with keyway's RSS sampled. They run before the pgbench matrix,
// so keyway's heap has not yet grown with the matrix's traffic. A failed
// measurement is recorded and the others still run.
func measureMemory(ctx context.Context, e *env, direct, floor endpoint) memoryReport {
	var m memoryReport
	fail := func(what string, err error) { m.Errors = append(m.Errors, fmt.Sprintf("%s: %v", what, err)) }
	if e.keyway == nil {
		fail("keyway", fmt.Errorf("the keyway path did not start"))
		return m
	}
	plugin, err := pluginChild(e.keyway.pid(), "postgres")
	if err != nil {
		fail("keyway's postgres plugin", err)
		return m
	}
	fmt.Fprintf(e.log, "opening %d idle sessions through keyway\n", e.opts.sessions)
	procs := []processRSS{{Name: "keyway", pid: e.keyway.pid()}, {Name: "plugin", pid: plugin}}
	if r, err := measureIdle(ctx, "keyway", procs, e.keywayEndpoint, e.opts.sessions); err != nil {
		fail("idle sessions", err)
	} else {
		m.Idle = append(m.Idle, r)
	}
	if e.agent != nil {
		fmt.Fprintf(e.log, "opening %d idle sessions through keyway's separate agent\n", e.opts.sessions)
		if r, err := measureAgentIdle(ctx, e); err != nil {
			fail("idle sessions through the agent", err)
		} else {
			m.Idle = append(m.Idle, r)
		}
	}
	if err := direct.settle(ctx, 2*time.Minute); err != nil {
		fail("PostgreSQL after the idle sessions", err)
	}
	paths := []streamPath{{name: directName, ep: direct}}
	if floor.host != "" {
		paths = append(paths, streamPath{name: floor1Name, ep: floor})
	}
	paths = append(paths, streamPath{name: "keyway", ep: e.keywayEndpoint, pids: []int{e.keyway.pid(), plugin}})
	fmt.Fprintf(e.log, "streaming %d MB over direct TLS, floor-1hop and keyway, %d round(s)\n", e.opts.streamBytes/1_000_000, e.opts.runs)
	streams, errs := measureStreams(ctx, paths, e.opts.streamBytes, e.opts.runs)
	m.Stream = streams
	m.Errors = append(m.Errors, errs...)
	return m
}

// measureAgentIdle measures idle sessions through the separate agent: the
// proxy's process (which serves no database, so no plugin of its own takes
// part), the agent's process and the agent's postgres plugin.
func measureAgentIdle(ctx context.Context, e *env) (idleResult, error) {
	plugin, err := pluginChild(e.agent.pid(), "postgres")
	if err != nil {
		return idleResult{}, fmt.Errorf("the agent's postgres plugin: %w", err)
	}
	procs := []processRSS{{Name: "proxy", pid: e.agentProxy.pid()}, {Name: "agent", pid: e.agent.pid()}, {Name: "agent plugin", pid: plugin}}
	return measureIdle(ctx, "keyway-agent", procs, e.agentEndpoint, e.opts.sessions)
}
