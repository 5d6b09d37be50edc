package admin

import (
	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// roleToProto encodes a role.
func roleToProto(r access.Role) *apiv1.Role {
	return &apiv1.Role{
		Name: r.Name, SpiffeIds: r.SpiffeIDs, Allow: ruleToProto(r.Allow), Deny: ruleToProto(r.Deny),
		Options: &apiv1.RoleOptions{IdleTimeout: r.Options.IdleTimeout, MaxSessionTtl: r.Options.MaxSessionTTL, MaxConnections: int32(r.Options.MaxConnections)},
	}
}

// roleFromProto decodes a role.
func roleFromProto(p *apiv1.Role) access.Role {
	o := p.GetOptions()
	return access.Role{
		Name: p.GetName(), SpiffeIDs: p.GetSpiffeIds(), Allow: ruleFromProto(p.GetAllow()), Deny: ruleFromProto(p.GetDeny()),
		Options: access.RoleOptions{IdleTimeout: o.GetIdleTimeout(), MaxSessionTTL: o.GetMaxSessionTtl(), MaxConnections: int(o.GetMaxConnections())},
	}
}

func ruleToProto(r access.Rule) *apiv1.RoleRule {
	return &apiv1.RoleRule{DbLabels: labelsToProto(r.DBLabels), DbUsers: r.DBUsers, DbNames: r.DBNames, Admin: r.Admin}
}

func ruleFromProto(p *apiv1.RoleRule) access.Rule {
	return access.Rule{DBLabels: labelsFromProto(p.GetDbLabels()), DBUsers: p.GetDbUsers(), DBNames: p.GetDbNames(), Admin: p.GetAdmin()}
}

// labelsToProto encodes label patterns (a role's db_labels, a grant's
// selector); nil stays nil.
func labelsToProto(m map[string][]string) map[string]*apiv1.LabelPatterns {
	if m == nil {
		return nil
	}
	out := make(map[string]*apiv1.LabelPatterns, len(m))
	for k, v := range m {
		out[k] = &apiv1.LabelPatterns{Patterns: v}
	}
	return out
}

// labelsFromProto decodes label patterns; none is nil.
func labelsFromProto(m map[string]*apiv1.LabelPatterns) map[string][]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = v.GetPatterns()
	}
	return out
}
