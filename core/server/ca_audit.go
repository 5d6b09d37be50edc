package server

import (
	"context"
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
)

// RecordRotations returns ca with every Rotate recorded as a ca.rotated
// event through record, which returns once the event is durable. A
// rotation that happened but could not be recorded is reported as an
// error that says both.
func RecordRotations(ca authority.CA, record func(context.Context, audit.Event) error) authority.CA {
	return rotationAudit{CA: ca, record: record}
}

// rotationAudit records the rotations of the CA it wraps.
type rotationAudit struct {
	authority.CA
	record func(context.Context, audit.Event) error
}

func (r rotationAudit) Rotate(ctx context.Context, a sdk.Authority, grace time.Duration) (sdk.AuthorityState, error) {
	st, err := r.CA.Rotate(ctx, a, grace)
	e := rotationEvent(a, grace, st, err)
	if rerr := r.record(ctx, e); rerr != nil {
		if err != nil {
			return st, err
		}
		return st, fmt.Errorf("the %s authority was rotated (new key %s), but the rotation could not be recorded in the audit log: %w", a, e.CAPin, rerr)
	}
	return st, err
}

// rotationEvent describes a rotation, or its failure.
func rotationEvent(a sdk.Authority, grace time.Duration, st sdk.AuthorityState, err error) audit.Event {
	e := audit.Event{Event: audit.CARotated, Code: "TCA01I", Success: err == nil, Target: a.String(), Reason: "grace period " + grace.String()}
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
