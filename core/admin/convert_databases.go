package admin

import (
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/config"
)

// databaseToProto encodes a db resource.
func databaseToProto(db config.Database) *apiv1.DatabaseResource {
	out := &apiv1.DatabaseResource{
		Name: db.Name, Description: db.Description, Protocol: db.Protocol, Uri: db.URI, Labels: db.Labels,
		CaCertFile: db.CACertFile, CaCertPem: db.CACertPEM, TrustSystemCertPool: db.TrustSystemCertPool,
		Mode: db.Mode, ServerName: db.ServerName,
	}
	if p := db.Pool; p != nil {
		out.Pool = &apiv1.DatabaseResourcePool{Mode: p.Mode, IdleTimeout: p.IdleTimeout}
		if p.MaxIdle != nil {
			n := int32(*p.MaxIdle)
			out.Pool.MaxIdle = &n
		}
	}
	return out
}

// databaseFromProto decodes a db resource.
func databaseFromProto(p *apiv1.DatabaseResource) config.Database {
	db := config.Database{
		Name: p.GetName(), Description: p.GetDescription(), Protocol: p.GetProtocol(), URI: p.GetUri(), Labels: p.GetLabels(),
		CACertFile: p.GetCaCertFile(), CACertPEM: p.GetCaCertPem(), TrustSystemCertPool: p.GetTrustSystemCertPool(),
		Mode: p.GetMode(), ServerName: p.GetServerName(),
	}
	if pool := p.GetPool(); pool != nil {
		db.Pool = &config.Pool{Mode: pool.GetMode(), IdleTimeout: pool.GetIdleTimeout()}
		if pool.MaxIdle != nil {
			n := int(pool.GetMaxIdle())
			db.Pool.MaxIdle = &n
		}
	}
	return db
}
