package authority

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// CA is what this package needs of a certificate authority: the CA
// plugin, directly or through a running keyway.
type CA interface {
	Authorities(ctx context.Context) ([]sdk.AuthorityState, error)
	Sign(ctx context.Context, req sdk.SignRequest) (sdk.SignResponse, error)
	// Rotate moves an authority's rotation to req.Phase.
	Rotate(ctx context.Context, req sdk.RotateRequest) (sdk.AuthorityState, error)
}

// GRPC adapts a CA plugin's gRPC client to CA.
type GRPC struct {
	Client pluginv1.CAClient
}

// Authorities lists the plugin's authorities.
func (g GRPC) Authorities(ctx context.Context) ([]sdk.AuthorityState, error) {
	resp, err := g.Client.Authorities(ctx, &pluginv1.AuthoritiesRequest{})
	if err != nil {
		return nil, pluginError("listing authorities", err)
	}
	out := make([]sdk.AuthorityState, 0, len(resp.GetAuthorities()))
	for _, a := range resp.GetAuthorities() {
		out = append(out, stateFromProto(a))
	}
	return out, nil
}

// Sign asks the plugin to sign.
func (g GRPC) Sign(ctx context.Context, req sdk.SignRequest) (sdk.SignResponse, error) {
	exts := make([]*pluginv1.Extension, 0, len(req.Extensions))
	for _, e := range req.Extensions {
		exts = append(exts, &pluginv1.Extension{Oid: e.Id.String(), Critical: e.Critical, Value: e.Value})
	}
	resp, err := g.Client.Sign(ctx, &pluginv1.SignRequest{
		Authority:     pluginv1.Authority(req.Authority),
		Csr:           req.CSR,
		CommonName:    req.CommonName,
		DnsNames:      req.DNSNames,
		IpAddresses:   req.IPAddresses,
		Uris:          req.URIs,
		Extensions:    exts,
		NotBeforeUnix: req.NotBefore.Unix(),
		NotAfterUnix:  req.NotAfter.Unix(),
		Usages:        req.Usages,
	})
	if err != nil {
		return sdk.SignResponse{}, pluginError("signing with the "+req.Authority.String()+" authority", err)
	}
	return sdk.SignResponse{Certificate: resp.GetCertificate(), Chain: resp.GetChain()}, nil
}

// Rotate asks the plugin to move an authority's rotation to a phase. A
// plugin that predates phases rotates in one step whatever the phase; its
// answer then names no phase this keyway knows, and Rotate says so.
func (g GRPC) Rotate(ctx context.Context, req sdk.RotateRequest) (sdk.AuthorityState, error) {
	a := req.Authority
	resp, err := g.Client.Rotate(ctx, &pluginv1.RotateRequest{
		Authority: pluginv1.Authority(a), GracePeriodSeconds: int64(req.Grace / time.Second),
		Phase: req.Phase, Automatic: req.Automatic,
	})
	if err != nil {
		return sdk.AuthorityState{}, pluginError("rotating the "+a.String()+" authority", err)
	}
	st := stateFromProto(resp.GetState())
	if st.Phase != req.Phase {
		return st, fmt.Errorf("the CA plugin does not rotate in phases: asked for phase %s it answered %q, so it has probably rotated the %s authority in one step (its new key signs now); upgrade the plugin", req.Phase, st.Phase, a)
	}
	return st, nil
}

func stateFromProto(a *pluginv1.AuthorityState) sdk.AuthorityState {
	st := sdk.AuthorityState{Authority: sdk.Authority(a.GetAuthority()), Certificates: a.GetCertificates(), Phase: a.GetPhase(), Automatic: a.GetAutomatic()}
	if a.GetGraceEndsUnix() != 0 {
		st.GraceEnds = time.Unix(a.GetGraceEndsUnix(), 0)
	}
	if a.GetRotationStartedUnix() != 0 {
		st.Started = time.Unix(a.GetRotationStartedUnix(), 0)
	}
	return st
}

// ParseAuthority reads an authority name as used on the command line.
func ParseAuthority(s string) (sdk.Authority, error) {
	for _, a := range All() {
		if a.String() == strings.ToLower(s) {
			return a, nil
		}
	}
	return sdk.AuthorityUnknown, fmt.Errorf("unknown authority %q: use user, host, db or db-client", s)
}

// All lists the cluster's authorities in display order.
func All() []sdk.Authority {
	return []sdk.Authority{sdk.AuthorityUser, sdk.AuthorityHost, sdk.AuthorityDB, sdk.AuthorityDBClient}
}

// pluginError turns a gRPC error into what a person should read: the
// plugin's own message when it refused the request (it already names what
// failed), or the operation and the transport failure otherwise.
func pluginError(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch st.Code() {
	case codes.Unknown, codes.InvalidArgument, codes.FailedPrecondition:
		return errors.New(st.Message())
	}
	return fmt.Errorf("%s: the CA plugin did not answer: %s", op, st.Message())
}
