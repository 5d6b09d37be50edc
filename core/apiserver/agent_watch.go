package apiserver

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/keyway-dev/keyway/core/agent"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/config"
)

// WatchDatabases streams the db resources that match the agent's
// selectors, following the state backend's watch: the matching set now,
// then again whenever it changes. Changes to db resources the agent does
// not select send nothing. An agent only ever learns of the databases it
// is to serve.
func (a AgentService) WatchDatabases(req *apiv1.WatchDatabasesRequest, stream grpc.ServerStreamingServer[apiv1.WatchDatabasesResponse]) error {
	if a.S.Auth == nil {
		return status.Error(codes.Unavailable, "this keyway process has no auth role")
	}
	selectors := agent.SelectorsFromProto(req.GetSelectors())
	var last *apiv1.WatchDatabasesResponse
	err := a.S.Auth.WatchDatabases(stream.Context(), func(all []config.Database) error {
		resp := &apiv1.WatchDatabasesResponse{}
		for _, db := range agent.Select(all, selectors) {
			resp.Databases = append(resp.Databases, agent.DefinitionToProto(db))
		}
		if last != nil && proto.Equal(last, resp) {
			return nil
		}
		last = resp
		return stream.Send(resp)
	})
	if stream.Context().Err() != nil {
		return nil
	}
	return status.Error(codes.Unavailable, "watching db resources: "+err.Error())
}
