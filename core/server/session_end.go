package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// endAckTimeout bounds how long the proxy waits for an agent to confirm
// that its plugin was told to end sessions.
const endAckTimeout = 5 * time.Second

// newEnforcer tracks the sessions api authorises and ends those whose
// access is taken away (apiserver.Enforcer), in this process's plugins
// or, through their tunnels, in agents'.
func newEnforcer(n *node, api *apiserver.Server, tunnels *tunnel.Registry) *apiserver.Enforcer {
	api.Live = apiserver.NewLiveSessions()
	e := &apiserver.Enforcer{
		S: api, Ender: sessionEnder{plugins: n.sup, tunnels: tunnels, remote: api.Remote},
		Logger: n.logger.Named("sessions"), KeepExpired: !n.cfg.Auth.EndsExpiredSessions(),
	}
	api.Live.Running = e.Running
	return e
}

// sessionEnder ends sessions in the plugins of this process or, through
// their tunnels, of agents.
type sessionEnder struct {
	plugins protocolPlugins
	tunnels *tunnel.Registry
	// remote reaches agents through proxies without the auth role; nil
	// when the auth service has no port of its own.
	remote *apiserver.RemoteTunnels
}

// EndSessions ends sessions of a protocol: in this process's plugin when
// agent is "", else in every tunnel of the agent of that name.
func (s sessionEnder) EndSessions(ctx context.Context, agent, protocol string, ids []string, r sdk.EndReason) error {
	req := &pluginv1.EndSessionsRequest{SessionIds: ids, Kind: r.Kind, Message: r.Message}
	if agent == "" {
		return endLocalSessions(ctx, s.plugins, protocol, req)
	}
	var errs []error
	found := false
	for _, a := range s.tunnels.Agents() {
		if a.Name != agent {
			continue
		}
		found = true
		errs = append(errs, endThroughTunnel(ctx, a.OpenSession, protocol, req))
	}
	if s.remote != nil {
		through, err := s.remote.EndSessions(ctx, agent, protocol, ids, r)
		found = found || through
		errs = append(errs, err)
	}
	if !found {
		// The tunnel is gone, and the sessions in it with it.
		return nil
	}
	return errors.Join(errs...)
}

// LocalSessions returns the sessions this process's plugin of a protocol
// serves.
func (s sessionEnder) LocalSessions(ctx context.Context, protocol string) (map[string]bool, error) {
	in, err := s.plugins.Protocol(protocol)
	if err != nil {
		return nil, err
	}
	conn, err := in.Conn(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := conn.Protocol.ActiveSessions(ctx, &pluginv1.ActiveSessionsRequest{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(resp.GetSessionIds()))
	for _, id := range resp.GetSessionIds() {
		out[id] = true
	}
	return out, nil
}

// endThroughTunnel asks an agent to end sessions: a tunnel stream whose
// header carries the request, answered with one byte once the agent's
// plugin was told.
func endThroughTunnel(ctx context.Context, open func(context.Context, *pluginv1.Session) (net.Conn, error), protocol string, req *pluginv1.EndSessionsRequest) error {
	ctx, cancel := context.WithTimeout(ctx, endAckTimeout)
	defer cancel()
	stream, err := open(ctx, &pluginv1.Session{Id: "end", Database: &pluginv1.Database{Protocol: protocol}, EndSessions: req})
	if err != nil {
		return err
	}
	defer func() { _ = stream.Close() }()
	_ = stream.SetReadDeadline(time.Now().Add(endAckTimeout))
	var ack [1]byte
	if _, err := io.ReadFull(stream, ack[:]); err != nil {
		return fmt.Errorf("the agent did not confirm ending the sessions: %w", err)
	}
	return nil
}

// endLocalSessions tells this process's plugin of a protocol to end
// sessions.
func endLocalSessions(ctx context.Context, plugins protocolPlugins, protocol string, req *pluginv1.EndSessionsRequest) error {
	in, err := plugins.Protocol(protocol)
	if err != nil {
		return err
	}
	conn, err := in.Conn(ctx)
	if err != nil {
		return err
	}
	_, err = conn.Protocol.EndSessions(ctx, req)
	return err
}

// endForProxy serves a proxy's request, through the tunnel, to end
// sessions this agent serves, and confirms it.
func (a *agentRole) endForProxy(ctx context.Context, stream net.Conn, meta *pluginv1.Session) {
	if err := endLocalSessions(ctx, a.plugins, meta.GetDatabase().GetProtocol(), meta.GetEndSessions()); err != nil {
		a.logger.Warn("cannot end sessions the proxy asked to end", "error", err)
		return
	}
	_, _ = stream.Write([]byte{1})
}
