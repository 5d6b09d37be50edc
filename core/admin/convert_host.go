package admin

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strconv"
	"strings"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
)

// pluginToProto encodes a plugin's row.
func pluginToProto(p Plugin) *apiv1.PluginStatus {
	return &apiv1.PluginStatus{
		Name: p.Name, Kind: p.Kind, Version: p.Version, ApiVersion: p.APIVersion, Builtin: p.Builtin,
		State: string(p.State), Pid: int32(p.PID), Restarts: int32(p.Restarts), LastError: p.LastError,
		SessionsTotal: p.Sessions, SessionsActive: p.SessionsActive, BytesFromClient: p.BytesFromClient, BytesToClient: p.BytesToClient,
	}
}

// pluginFromProto decodes a plugin's row.
func pluginFromProto(p *apiv1.PluginStatus) Plugin {
	return Plugin{
		Status: supervisor.Status{
			Name: p.GetName(), Kind: p.GetKind(), Version: p.GetVersion(), APIVersion: p.GetApiVersion(), Builtin: p.GetBuiltin(),
			State: supervisor.State(p.GetState()), PID: int(p.GetPid()), Restarts: int(p.GetRestarts()), LastError: p.GetLastError(),
		},
		Sessions: p.SessionsTotal, SessionsActive: p.SessionsActive, BytesFromClient: p.BytesFromClient, BytesToClient: p.BytesToClient,
	}
}

// authorityToProto encodes an authority's state.
func authorityToProto(st sdk.AuthorityState) *apiv1.AuthorityState {
	return &apiv1.AuthorityState{
		Authority: apiv1.Authority(st.Authority), Certificates: st.Certificates, Phase: st.Phase,
		GraceEnds: timestamp(st.GraceEnds), Started: timestamp(st.Started), Automatic: st.Automatic,
	}
}

// authorityFromProto decodes an authority's state.
func authorityFromProto(p *apiv1.AuthorityState) sdk.AuthorityState {
	return sdk.AuthorityState{
		Authority: sdk.Authority(p.GetAuthority()), Certificates: p.GetCertificates(), Phase: p.GetPhase(),
		GraceEnds: timeOf(p.GetGraceEnds()), Started: timeOf(p.GetStarted()), Automatic: p.GetAutomatic(),
	}
}

// signToProto encodes a signing request.
func signToProto(req sdk.SignRequest) *apiv1.SignCertificateRequest {
	exts := make([]*apiv1.CertificateExtension, 0, len(req.Extensions))
	for _, e := range req.Extensions {
		exts = append(exts, &apiv1.CertificateExtension{Oid: e.Id.String(), Critical: e.Critical, Value: e.Value})
	}
	return &apiv1.SignCertificateRequest{
		Authority: apiv1.Authority(req.Authority), Csr: req.CSR, CommonName: req.CommonName,
		DnsNames: req.DNSNames, IpAddresses: req.IPAddresses, Uris: req.URIs, Extensions: exts,
		NotBefore: timestamp(req.NotBefore), NotAfter: timestamp(req.NotAfter), Usages: req.Usages,
	}
}

// signFromProto decodes a signing request; a malformed extension OID is
// invalid.
func signFromProto(p *apiv1.SignCertificateRequest) (sdk.SignRequest, error) {
	exts := make([]pkix.Extension, 0, len(p.GetExtensions()))
	for _, e := range p.GetExtensions() {
		id, err := parseOID(e.GetOid())
		if err != nil {
			return sdk.SignRequest{}, auth.WithKind(auth.ErrInvalid, err)
		}
		exts = append(exts, pkix.Extension{Id: id, Critical: e.GetCritical(), Value: e.GetValue()})
	}
	return sdk.SignRequest{
		Authority: sdk.Authority(p.GetAuthority()), CSR: p.GetCsr(), CommonName: p.GetCommonName(),
		DNSNames: p.GetDnsNames(), IPAddresses: p.GetIpAddresses(), URIs: p.GetUris(), Extensions: exts,
		NotBefore: timeOf(p.GetNotBefore()), NotAfter: timeOf(p.GetNotAfter()), Usages: p.GetUsages(),
	}, nil
}

// parseOID reads a dotted object identifier of at least two arcs.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("the extension OID %q is not a dotted object identifier", s)
	}
	id := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("the extension OID %q is not a dotted object identifier", s)
		}
		id[i] = n
	}
	return id, nil
}

// rotateToProto encodes a rotation request.
func rotateToProto(req sdk.RotateRequest) *apiv1.RotateAuthorityRequest {
	return &apiv1.RotateAuthorityRequest{Authority: apiv1.Authority(req.Authority), Phase: req.Phase, Grace: duration(req.Grace), Automatic: req.Automatic}
}

// rotateFromProto decodes a rotation request.
func rotateFromProto(p *apiv1.RotateAuthorityRequest) sdk.RotateRequest {
	return sdk.RotateRequest{Authority: sdk.Authority(p.GetAuthority()), Phase: p.GetPhase(), Grace: durationOf(p.GetGrace()), Automatic: p.GetAutomatic()}
}

// decisionToProto encodes an access decision.
func decisionToProto(d sdk.Authorization) *apiv1.CheckAccessResponse {
	out := &apiv1.CheckAccessResponse{Allow: d.Allow, Message: d.Message, IdleTimeout: duration(d.IdleTimeout), Refusal: d.Refusal}
	for _, r := range d.Reasons {
		out.Reasons = append(out.Reasons, &apiv1.Reason{Effect: r.Effect, Role: r.Role, Rule: r.Rule, Message: r.Message})
	}
	return out
}

// decisionFromProto decodes an access decision.
func decisionFromProto(p *apiv1.CheckAccessResponse) sdk.Authorization {
	d := sdk.Authorization{Allow: p.GetAllow(), Message: p.GetMessage(), IdleTimeout: durationOf(p.GetIdleTimeout()), Refusal: p.GetRefusal()}
	for _, r := range p.GetReasons() {
		d.Reasons = append(d.Reasons, sdk.Reason{Effect: r.GetEffect(), Role: r.GetRole(), Rule: r.GetRule(), Message: r.GetMessage()})
	}
	return d
}
