package sdk

import (
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strconv"
	"strings"
	"time"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// caServer adapts a CAPlugin to the CA service.
type caServer struct {
	pluginv1.UnimplementedCAServer
	impl CAPlugin
}

func (s *caServer) Authorities(ctx context.Context, _ *pluginv1.AuthoritiesRequest) (*pluginv1.AuthoritiesResponse, error) {
	states, err := s.impl.Authorities(ctx)
	if err != nil {
		return nil, err
	}
	resp := &pluginv1.AuthoritiesResponse{}
	for _, st := range states {
		resp.Authorities = append(resp.Authorities, authorityStateToProto(st))
	}
	return resp, nil
}

func (s *caServer) Sign(ctx context.Context, req *pluginv1.SignRequest) (*pluginv1.SignResponse, error) {
	exts := make([]pkix.Extension, 0, len(req.GetExtensions()))
	for _, e := range req.GetExtensions() {
		oid, err := parseOID(e.GetOid())
		if err != nil {
			return nil, err
		}
		exts = append(exts, pkix.Extension{Id: oid, Critical: e.GetCritical(), Value: e.GetValue()})
	}
	out, err := s.impl.Sign(ctx, SignRequest{
		Authority:   Authority(req.GetAuthority()),
		CSR:         req.GetCsr(),
		CommonName:  req.GetCommonName(),
		DNSNames:    req.GetDnsNames(),
		IPAddresses: req.GetIpAddresses(),
		URIs:        req.GetUris(),
		Extensions:  exts,
		NotBefore:   time.Unix(req.GetNotBeforeUnix(), 0),
		NotAfter:    time.Unix(req.GetNotAfterUnix(), 0),
		Usages:      req.GetUsages(),
	})
	if err != nil {
		return nil, err
	}
	return &pluginv1.SignResponse{Certificate: out.Certificate, Chain: out.Chain}, nil
}

func (s *caServer) Rotate(ctx context.Context, req *pluginv1.RotateRequest) (*pluginv1.RotateResponse, error) {
	st, err := s.impl.Rotate(ctx, RotateRequest{
		Authority: Authority(req.GetAuthority()),
		Phase:     req.GetPhase(),
		Grace:     time.Duration(req.GetGracePeriodSeconds()) * time.Second,
		Automatic: req.GetAutomatic(),
	})
	if err != nil {
		return nil, err
	}
	return &pluginv1.RotateResponse{State: authorityStateToProto(st)}, nil
}

func authorityStateToProto(st AuthorityState) *pluginv1.AuthorityState {
	out := &pluginv1.AuthorityState{
		Authority:    pluginv1.Authority(st.Authority),
		Certificates: st.Certificates,
		Phase:        st.Phase,
		Automatic:    st.Automatic,
	}
	if !st.GraceEnds.IsZero() {
		out.GraceEndsUnix = st.GraceEnds.Unix()
	}
	if !st.Started.IsZero() {
		out.RotationStartedUnix = st.Started.Unix()
	}
	return out
}

// parseOID reads a dotted object identifier such as "1.3.6.1.4.1.99999.1".
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("object identifier %q needs at least two arcs", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("object identifier %q: arc %q is not a number", s, p)
		}
		oid[i] = n
	}
	return oid, nil
}
