package admin

import (
	"context"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// databasesService serves the DatabaseResources service.
type databasesService struct {
	apiv1.UnimplementedDatabaseResourcesServer
	src AuthSource
}

func (s databasesService) PutDatabaseResource(ctx context.Context, req *apiv1.PutDatabaseResourceRequest) (*apiv1.PutDatabaseResourceResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.PutDatabaseResourceResponse{}, svc.PutDatabase(ctx, databaseFromProto(req.GetDatabase()))
}

func (s databasesService) ListDatabaseResources(ctx context.Context, _ *apiv1.ListDatabaseResourcesRequest) (*apiv1.ListDatabaseResourcesResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	dbs, err := svc.Databases(ctx)
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListDatabaseResourcesResponse{}
	for _, db := range dbs {
		out.Databases = append(out.Databases, databaseToProto(db))
	}
	return out, nil
}

func (s databasesService) RemoveDatabaseResource(ctx context.Context, req *apiv1.RemoveDatabaseResourceRequest) (*apiv1.RemoveDatabaseResourceResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.RemoveDatabaseResourceResponse{}, svc.RemoveDatabase(ctx, req.GetName())
}
