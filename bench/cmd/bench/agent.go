package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// errUnavailable marks a path this keyway build cannot serve.
var errUnavailable = errors.New("not available in this build")

// agentDB is the registered name of the database the separate agent
// serves: the same PostgreSQL, reached through the agent's tunnel.
const agentDB = "bench-agent"

// agentConfig is a keyway that runs only the database agent role and
// joins the all-in-one keyway's proxy with a join token.
const agentConfig = `db {
  proxy_addr = %q
  token_file = %q

  database %q {
    protocol = "postgres"
    uri      = %q
  }
}
`

// joinToken matches a join token in the CLI's output (kw1.SECRET.PIN).
var joinToken = regexp.MustCompile(`kw1\.[A-Za-z0-9_-]{32}\.[0-9a-f]{64}`)

// hasAgentMode probes the binary for the separate-agent mode: agents join
// with a token from "keyway tokens add", a command the build has only
// when it has the mode.
func hasAgentMode(ctx context.Context, bin string) bool {
	return exec.CommandContext(ctx, bin, "tokens", "add", "--help").Run() == nil
}

// gatewayConfig is the proxy a separate agent joins: auth and proxy in
// one process with no database of its own, as a deployment's public
// proxy runs. Its sessions all go to agents.
const gatewayConfig = `auth {}

proxy {
  listen = %q
}
`

// agentPath runs two more keyway processes: a proxy with no database of
// its own (auth and proxy, holding a copy of the all-in-one keyway's
// authorities) and an agent that joins it with a token and serves the
// same PostgreSQL. It needs the keyway path, whose authorities it copies.
func agentPath(ctx context.Context, e *env) (endpoint, error) {
	if !hasAgentMode(ctx, e.cluster.bin) {
		return endpoint{}, errUnavailable
	}
	gw, gwProc, port, err := copyKeyway(ctx, e, "keyway-agent-proxy", func(listen string) string {
		return fmt.Sprintf(gatewayConfig, listen)
	})
	if err != nil {
		return endpoint{}, err
	}
	out, err := gw.kw(ctx, "tokens", "add", "--type=db", "--db-names=*")
	if err != nil {
		return endpoint{}, err
	}
	token := joinToken.FindString(out)
	if token == "" {
		return endpoint{}, fmt.Errorf("keyway tokens add printed no join token:\n%s", out)
	}
	dir := filepath.Join(e.dir, "agent")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return endpoint{}, fmt.Errorf("agent directory: %w", err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return endpoint{}, fmt.Errorf("writing the join token: %w", err)
	}
	agent := &cluster{bin: e.cluster.bin, dir: dir, cfg: filepath.Join(dir, "keyway.hcl"), data: filepath.Join(dir, "data")}
	proxy := fmt.Sprintf("127.0.0.1:%d", port)
	if err := agent.writeConfig(fmt.Sprintf(agentConfig, proxy, tokenFile, agentDB, e.pg.Addr())); err != nil {
		return endpoint{}, err
	}
	user := certFiles{e.cluster.path("alice-agent")}
	if err := e.cluster.userCert(ctx, "alice", agentDB, user); err != nil {
		return endpoint{}, err
	}
	p, err := startProcess("keyway agent", filepath.Join(dir, "keyway.log"), nil, agent.bin, "start", "-c", agent.cfg)
	if err != nil {
		return endpoint{}, err
	}
	e.onClose(func() { p.stop(10 * time.Second) })
	ep := userEndpoint("127.0.0.1", port, user)
	if err := p.waitUntil(ctx, 30*time.Second, "session through the agent's tunnel", ep.ping); err != nil {
		return endpoint{}, err
	}
	ep.servers = []int{gwProc.pid(), p.pid()}
	e.agent, e.agentProxy, e.agentEndpoint = p, gwProc, ep
	return ep, nil
}
