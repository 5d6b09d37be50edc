package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/server"
	"github.com/keyway-dev/keyway/core/supervisor"
)

// openCA returns the cluster's CA for an admin command run on the auth
// host: the running keyway's, through its admin socket, so that a rotation
// reaches the process that signs (and records it in the audit log); or,
// when none runs, the CA plugin launched just for this command, whose
// rotations and signatures this command records in the configured audit
// log itself. stop releases it.
func openCA(ctx context.Context, cfg *config.Config) (ca authority.CA, stop func(), err error) {
	client := admin.NewClient(admin.SocketPath(cfg.DataDir))
	if client.Ready(ctx) == nil {
		return client, func() { _ = client.Close() }, nil
	}
	_ = client.Close()
	b, err := builtins()
	if err != nil {
		return nil, nil, err
	}
	var specs []supervisor.Spec
	for _, s := range server.Specs(cfg, b) {
		if s.Name == cfg.CAPlugin {
			specs = append(specs, s)
		}
	}
	if len(specs) != 1 {
		return nil, nil, fmt.Errorf("no CA plugin named %q", cfg.CAPlugin)
	}
	sup := supervisor.New(supervisor.Options{Logger: hclog.NewNullLogger(), ClusterName: cfg.ClusterName, DataDir: cfg.DataDir})
	if err := sup.Start(ctx, specs); err != nil {
		return nil, nil, err
	}
	in, err := sup.Instance(cfg.CAPlugin)
	if err != nil {
		sup.Stop()
		return nil, nil, err
	}
	conn, err := in.Conn(ctx)
	if err != nil {
		sup.Stop()
		return nil, nil, err
	}
	return server.AuditCA(authority.GRPC{Client: conn.CA}, recordOffline(cfg)), sup.Stop, nil
}

// recordOffline records an event in the configured audit log from this
// command, when no keyway runs to do it, and returns once it is durable.
func recordOffline(cfg *config.Config) func(context.Context, audit.Event) error {
	return func(ctx context.Context, e audit.Event) error {
		l, err := server.OpenAuditLog(cfg, hclog.NewNullLogger())
		if err != nil {
			return err
		}
		err = l.EmitDurable(ctx, e)
		if cerr := l.Close(); err == nil {
			err = cerr
		}
		return err
	}
}
