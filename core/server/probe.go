package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// probeDatabase checks a database's health with the protocol plugin that
// serves it, the way that plugin's sessions connect. A plugin without a
// check of its own counts its databases as healthy.
func (n *node) probeDatabase(ctx context.Context, db sdk.Database) error {
	in, err := n.sup.Protocol(db.Protocol)
	if err != nil {
		return fmt.Errorf("no %s protocol plugin runs here to serve it", db.Protocol)
	}
	conn, err := in.Conn(ctx)
	if err != nil {
		return fmt.Errorf("the %s plugin is not running: %w", db.Protocol, err)
	}
	resp, err := conn.Protocol.CheckDatabase(ctx, &pluginv1.CheckDatabaseRequest{Database: agent.DatabaseToProto(db)})
	switch {
	case status.Code(err) == codes.Unimplemented || resp.GetUnsupported():
		return nil
	case err != nil:
		return fmt.Errorf("the %s plugin's check: %s", db.Protocol, status.Convert(err).Message())
	case resp.GetProblem() != "":
		return errors.New(resp.GetProblem())
	}
	return nil
}
