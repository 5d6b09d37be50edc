package server

import (
	"context"
	"fmt"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// plugins finds the running CA and authorisation plugins.
type plugins struct {
	sup       *supervisor.Supervisor
	caName    string
	authzName string
}

// CA returns the running CA plugin.
func (p plugins) CA(ctx context.Context) (authority.CA, error) {
	conn, err := p.conn(ctx, p.caName)
	if err != nil {
		return nil, err
	}
	return authority.GRPC{Client: conn.CA}, nil
}

// Engine returns the running authorisation plugin.
func (p plugins) Engine(ctx context.Context) (access.Engine, error) {
	if p.authzName == "" {
		return nil, fmt.Errorf("this keyway process has no auth role, so it cannot decide access")
	}
	conn, err := p.conn(ctx, p.authzName)
	if err != nil {
		return nil, err
	}
	return authzEngine{conn.Authz}, nil
}

func (p plugins) conn(ctx context.Context, name string) (*supervisor.Conn, error) {
	in, err := p.sup.Instance(name)
	if err != nil {
		return nil, err
	}
	return in.Conn(ctx)
}

// lazyCA reaches the CA plugin on each call, so it survives restarts.
type lazyCA struct{ p plugins }

func (l lazyCA) Authorities(ctx context.Context) ([]sdk.AuthorityState, error) {
	ca, err := l.p.CA(ctx)
	if err != nil {
		return nil, err
	}
	return ca.Authorities(ctx)
}

func (l lazyCA) Sign(ctx context.Context, req sdk.SignRequest) (sdk.SignResponse, error) {
	ca, err := l.p.CA(ctx)
	if err != nil {
		return sdk.SignResponse{}, err
	}
	return ca.Sign(ctx, req)
}

func (l lazyCA) Rotate(ctx context.Context, req sdk.RotateRequest) (sdk.AuthorityState, error) {
	ca, err := l.p.CA(ctx)
	if err != nil {
		return sdk.AuthorityState{}, err
	}
	return ca.Rotate(ctx, req)
}

// authzEngine adapts the authz plugin's client.
type authzEngine struct{ c pluginv1.AuthzClient }

func (e authzEngine) Authorize(ctx context.Context, action string, input []byte) (sdk.Decision, error) {
	resp, err := e.c.Authorize(ctx, &pluginv1.AuthorizeRequest{Action: action, InputJson: input})
	if err != nil {
		return sdk.Decision{}, err
	}
	d := sdk.Decision{Allow: resp.GetAllow()}
	for _, r := range resp.GetReasons() {
		d.Reasons = append(d.Reasons, sdk.Reason{Effect: r.GetEffect(), Role: r.GetRole(), Rule: r.GetRule(), Message: r.GetMessage()})
	}
	return d, nil
}
