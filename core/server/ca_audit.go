package server

import (
	"context"
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
)

// AuditCA returns ca, as an operator's commands use it, with every Rotate
// recorded as a ca.rotated event and every Sign as a cert.issued event
// through record, which returns once the event is durable. A rotation
// that happened but could not be recorded is reported as an error that
// says both; a certificate that could not be recorded is not handed out.
func AuditCA(ca authority.CA, record func(context.Context, audit.Event) error) authority.CA {
	return caAudit{CA: ca, record: record}
}

// caAudit records the rotations and signatures of the CA it wraps.
type caAudit struct {
	authority.CA
	record func(context.Context, audit.Event) error
}

// Sign signs and records what was signed, for whom, until when.
func (r caAudit) Sign(ctx context.Context, req sdk.SignRequest) (sdk.SignResponse, error) {
	resp, err := r.CA.Sign(ctx, req)
	subject := req.CommonName
	if len(req.URIs) > 0 {
		subject = req.URIs[0]
	}
	e := audit.Event{Event: audit.CertIssued, Code: "TC003", Success: err == nil, Target: subject,
		Reason: fmt.Sprintf("signed by an operator's command from the %s authority, valid until %s", req.Authority, req.NotAfter.UTC().Format(time.RFC3339))}
	if err != nil {
		e.Error = err.Error()
	}
	if rerr := r.record(ctx, e); rerr != nil {
		if err != nil {
			return resp, err
		}
		return sdk.SignResponse{}, fmt.Errorf("the certificate for %s was signed but could not be recorded in the audit log, so it is not handed out: %w", subject, rerr)
	}
	return resp, err
}

// Rotate moves a rotation to a phase and records the phase change.
func (r caAudit) Rotate(ctx context.Context, req sdk.RotateRequest) (sdk.AuthorityState, error) {
	st, err := r.CA.Rotate(ctx, req)
	e := rotationEvent(req, st, err)
	if rerr := r.record(ctx, e); rerr != nil {
		if err != nil {
			return st, err
		}
		return st, fmt.Errorf("the %s authority's rotation moved to phase %s (key %s), but the change could not be recorded in the audit log: %w", req.Authority, req.Phase, e.CAPin, rerr)
	}
	return st, err
}

// rotationEvent describes a phase change of a rotation, or its failure.
func rotationEvent(req sdk.RotateRequest, st sdk.AuthorityState, err error) audit.Event {
	a := req.Authority
	reason := "phase " + req.Phase
	if req.Phase == sdk.PhaseInit {
		mode := "manual"
		if req.Automatic {
			mode = "automatic"
		}
		reason += ", " + mode + ", grace period " + req.Grace.String()
	}
	e := audit.Event{Event: audit.CARotated, Code: "TCA01I", Success: err == nil, Target: a.String(), Reason: reason}
	if err != nil {
		e.Code, e.Error = "TCA01W", err.Error()
		return e
	}
	if len(st.Certificates) > 0 {
		if pin, perr := authority.Pin(st.Certificates[0]); perr == nil {
			e.CAPin = pin
		}
	}
	if !st.GraceEnds.IsZero() {
		ends := st.GraceEnds.UTC()
		e.GraceEnds = &ends
	}
	return e
}
