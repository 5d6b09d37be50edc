package admin

import (
	"context"
	"time"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// locksService serves the Locks service.
type locksService struct {
	apiv1.UnimplementedLocksServer
	src AuthSource
}

func (s locksService) AddLock(ctx context.Context, req *apiv1.AddLockRequest) (*apiv1.AddLockResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	l, err := svc.AddLock(ctx, lockTargetFromProto(req.GetTarget()), req.GetMessage(), durationOf(req.GetTtl()), time.Now())
	if err != nil {
		return nil, err
	}
	return &apiv1.AddLockResponse{Lock: lockToProto(l)}, nil
}

func (s locksService) ListLocks(ctx context.Context, _ *apiv1.ListLocksRequest) (*apiv1.ListLocksResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	locks, err := svc.Locks(ctx)
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListLocksResponse{}
	for _, l := range locks {
		out.Locks = append(out.Locks, lockToProto(l))
	}
	return out, nil
}

func (s locksService) RemoveLock(ctx context.Context, req *apiv1.RemoveLockRequest) (*apiv1.RemoveLockResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.RemoveLockResponse{}, svc.RemoveLock(ctx, req.GetId())
}
