package admin

import (
	"context"

	"google.golang.org/grpc"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/sdk"
)

// maxAuditResponse bounds an audit search's answer: a search without a
// limit returns every matching event.
const maxAuditResponse = 256 << 20

// Audit searches the running process's audit log: the matching events,
// oldest first; with f.Limit, the newest that many.
func (c *Client) Audit(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	resp, err := apiv1.NewAuditClient(c.cc).SearchEvents(ctx, filterToProto(f), grpc.MaxCallRecvMsgSize(maxAuditResponse))
	if err != nil {
		return nil, err
	}
	out := make([]audit.Event, 0, len(resp.GetEvents()))
	for _, e := range resp.GetEvents() {
		out = append(out, eventFromProto(e))
	}
	return out, nil
}

// CheckAccess asks the running keyway for a decision.
func (c *Client) CheckAccess(ctx context.Context, req CheckRequest) (sdk.Authorization, error) {
	resp, err := apiv1.NewAccessClient(c.cc).CheckAccess(ctx, &apiv1.CheckAccessRequest{User: req.User, Database: req.Database, DbUser: req.DBUser, DbName: req.DBName})
	if err != nil {
		return sdk.Authorization{}, err
	}
	return decisionFromProto(resp), nil
}
