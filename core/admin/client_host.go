package admin

import (
	"context"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/sdk"
)

// Ready returns nil once the process serves its admin socket.
func (c *Client) Ready(ctx context.Context) error {
	_, err := apiv1.NewHostClient(c.cc).Ready(ctx, &apiv1.ReadyRequest{})
	return err
}

// Plugins lists the running process's plugins.
func (c *Client) Plugins(ctx context.Context) ([]Plugin, error) {
	resp, err := apiv1.NewHostClient(c.cc).ListPlugins(ctx, &apiv1.ListPluginsRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]Plugin, 0, len(resp.GetPlugins()))
	for _, p := range resp.GetPlugins() {
		out = append(out, pluginFromProto(p))
	}
	return out, nil
}

// Process reports on the running keyway process.
func (c *Client) Process(ctx context.Context) (Process, error) {
	resp, err := apiv1.NewHostClient(c.cc).GetProcess(ctx, &apiv1.GetProcessRequest{})
	if err != nil {
		return Process{}, err
	}
	p := Process{OpenFilesSoft: resp.GetOpenFilesSoft(), OpenFilesHard: resp.GetOpenFilesHard(), OpenFiles: int(resp.GetOpenFiles())}
	for _, px := range resp.GetProxies() {
		p.Proxies = append(p.Proxies, ProxyStatus{Addr: px.GetAddr(), HostID: px.GetHostId(), Version: px.GetVersion(), Problem: px.GetProblem(), Remote: px.GetRemote()})
	}
	return p, nil
}

// Authorities lists the CA's authorities.
func (c *Client) Authorities(ctx context.Context) ([]sdk.AuthorityState, error) {
	resp, err := apiv1.NewHostClient(c.cc).ListAuthorities(ctx, &apiv1.ListAuthoritiesRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]sdk.AuthorityState, 0, len(resp.GetAuthorities()))
	for _, st := range resp.GetAuthorities() {
		out = append(out, authorityFromProto(st))
	}
	return out, nil
}

// Sign signs through the running CA plugin.
func (c *Client) Sign(ctx context.Context, req sdk.SignRequest) (sdk.SignResponse, error) {
	resp, err := apiv1.NewHostClient(c.cc).SignCertificate(ctx, signToProto(req))
	if err != nil {
		return sdk.SignResponse{}, err
	}
	return sdk.SignResponse{Certificate: resp.GetCertificate(), Chain: resp.GetChain()}, nil
}

// Rotate rotates an authority of the running CA plugin.
func (c *Client) Rotate(ctx context.Context, req sdk.RotateRequest) (sdk.AuthorityState, error) {
	resp, err := apiv1.NewHostClient(c.cc).RotateAuthority(ctx, rotateToProto(req))
	if err != nil {
		return sdk.AuthorityState{}, err
	}
	return authorityFromProto(resp.GetState()), nil
}
