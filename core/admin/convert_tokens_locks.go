package admin

import (
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
)

// tokenToProto encodes a join token's record.
func tokenToProto(t auth.Token) *apiv1.JoinToken {
	out := &apiv1.JoinToken{
		Id: t.ID, Type: t.Type, Created: timestamp(t.Created), Expires: timestamp(t.Expires),
		UsedAt: timestamp(t.UsedAt), UsedBy: t.UsedBy,
	}
	if g := t.Grant; g != nil {
		out.Grant = &apiv1.DatabaseGrant{Names: g.Names, Labels: labelsToProto(g.Labels), FirstClaim: g.FirstClaim}
	}
	return out
}

// tokenFromProto decodes a join token's record.
func tokenFromProto(p *apiv1.JoinToken) auth.Token {
	t := auth.Token{
		ID: p.GetId(), Type: p.GetType(), Created: timeOf(p.GetCreated()), Expires: timeOf(p.GetExpires()),
		UsedAt: timeOf(p.GetUsedAt()), UsedBy: p.GetUsedBy(),
	}
	if g := p.GetGrant(); g != nil {
		t.Grant = &auth.DBGrant{Names: g.GetNames(), Labels: labelsFromProto(g.GetLabels()), FirstClaim: g.GetFirstClaim()}
	}
	return t
}

// lockTargetToProto encodes what a lock covers.
func lockTargetToProto(t auth.LockTarget) *apiv1.LockTarget {
	return &apiv1.LockTarget{User: t.User, Role: t.Role, Db: t.DB, Agent: t.Agent}
}

// lockTargetFromProto decodes what a lock covers.
func lockTargetFromProto(p *apiv1.LockTarget) auth.LockTarget {
	return auth.LockTarget{User: p.GetUser(), Role: p.GetRole(), DB: p.GetDb(), Agent: p.GetAgent()}
}

// lockToProto encodes a lock.
func lockToProto(l auth.Lock) *apiv1.Lock {
	return &apiv1.Lock{Id: l.ID, Target: lockTargetToProto(l.Target), Message: l.Message, Created: timestamp(l.Created), Expires: timestamp(l.Expires)}
}

// lockFromProto decodes a lock.
func lockFromProto(p *apiv1.Lock) auth.Lock {
	return auth.Lock{ID: p.GetId(), Target: lockTargetFromProto(p.GetTarget()), Message: p.GetMessage(), Created: timeOf(p.GetCreated()), Expires: timeOf(p.GetExpires())}
}
