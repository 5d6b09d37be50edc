package admin

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// auditService serves the Audit service from a Source that is an
// AuditSource.
type auditService struct {
	apiv1.UnimplementedAuditServer
	src Source
}

func (s auditService) SearchEvents(ctx context.Context, req *apiv1.SearchEventsRequest) (*apiv1.SearchEventsResponse, error) {
	if req.GetLimit() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "limit = %d is not a number of events", req.GetLimit())
	}
	as, ok := s.src.(AuditSource)
	if !ok {
		return nil, errNoAuditLog
	}
	searcher := as.AuditSearcher()
	if searcher == nil {
		return nil, errNoAuditLog
	}
	events, err := searcher.Search(ctx, filterFromProto(req))
	if err != nil {
		return nil, err
	}
	out := &apiv1.SearchEventsResponse{}
	for _, e := range events {
		out.Events = append(out.Events, eventToProto(e))
	}
	return out, nil
}

// accessService serves the Access service from a Source that is an
// AccessChecker.
type accessService struct {
	apiv1.UnimplementedAccessServer
	src Source
}

func (s accessService) CheckAccess(ctx context.Context, req *apiv1.CheckAccessRequest) (*apiv1.CheckAccessResponse, error) {
	checker, ok := s.src.(AccessChecker)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this keyway process does not check access")
	}
	d, err := checker.CheckAccess(ctx, CheckRequest{User: req.GetUser(), Database: req.GetDatabase(), DBUser: req.GetDbUser(), DBName: req.GetDbName()})
	if err != nil {
		return nil, err
	}
	return decisionToProto(d), nil
}
