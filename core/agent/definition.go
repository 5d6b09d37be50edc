package agent

import (
	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/config"
)

// DefinitionToProto encodes a db resource for the Agent API's
// WatchDatabases. The pool block goes as written, so that the agent
// applies its defaults as it does to a database block's.
func DefinitionToProto(db config.Database) *apiv1.DatabaseDefinition {
	out := &apiv1.DatabaseDefinition{
		Name: db.Name, Description: db.Description, Protocol: db.Protocol, Uri: db.URI, Labels: db.Labels,
		CaCertFile: db.CACertFile, CaCertPem: db.CACertPEM, TrustSystemCertPool: db.TrustSystemCertPool,
		Mode: db.Mode, ServerName: db.ServerName,
	}
	if p := db.Pool; p != nil {
		out.Pool = &apiv1.DatabaseDefinitionPool{Mode: p.Mode, IdleTimeout: p.IdleTimeout}
		if p.MaxIdle != nil {
			n := int32(*p.MaxIdle)
			out.Pool.MaxIdle = &n
		}
	}
	return out
}

// DefinitionFromProto decodes a db resource from WatchDatabases.
func DefinitionFromProto(d *apiv1.DatabaseDefinition) config.Database {
	db := config.Database{
		Name: d.GetName(), Description: d.GetDescription(), Protocol: d.GetProtocol(), URI: d.GetUri(), Labels: d.GetLabels(),
		CACertFile: d.GetCaCertFile(), CACertPEM: d.GetCaCertPem(), TrustSystemCertPool: d.GetTrustSystemCertPool(),
		Mode: d.GetMode(), ServerName: d.GetServerName(),
	}
	if p := d.GetPool(); p != nil {
		db.Pool = &config.Pool{Mode: p.GetMode(), IdleTimeout: p.GetIdleTimeout()}
		if p.MaxIdle != nil {
			n := int(p.GetMaxIdle())
			db.Pool.MaxIdle = &n
		}
	}
	return db
}

// SelectorsToProto encodes an agent's resources selectors.
func SelectorsToProto(sels []access.LabelSelector) []*apiv1.LabelSelector {
	out := make([]*apiv1.LabelSelector, 0, len(sels))
	for _, s := range sels {
		p := &apiv1.LabelSelector{Labels: map[string]*apiv1.LabelPatterns{}}
		for k, pats := range s {
			p.Labels[k] = &apiv1.LabelPatterns{Patterns: pats}
		}
		out = append(out, p)
	}
	return out
}

// SelectorsFromProto decodes an agent's resources selectors.
func SelectorsFromProto(sels []*apiv1.LabelSelector) []access.LabelSelector {
	out := make([]access.LabelSelector, 0, len(sels))
	for _, p := range sels {
		s := access.LabelSelector{}
		for k, pats := range p.GetLabels() {
			s[k] = pats.GetPatterns()
		}
		out = append(out, s)
	}
	return out
}

// Select keeps the db resources that match one of the selectors.
func Select(dbs []config.Database, sels []access.LabelSelector) []config.Database {
	var out []config.Database
	for _, db := range dbs {
		if access.MatchAny(sels, db.Labels) {
			out = append(out, db)
		}
	}
	return out
}
