package admin

import (
	"context"
	"time"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
)

// botsService serves the Bots service.
type botsService struct {
	apiv1.UnimplementedBotsServer
	src AuthSource
}

func (s botsService) AddBot(ctx context.Context, req *apiv1.AddBotRequest) (*apiv1.AddBotResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	b := auth.Bot{Name: req.GetName(), Roles: req.GetRoles(), DBUsers: req.GetDbUsers(), DBNames: req.GetDbNames()}
	if err := svc.AddBot(ctx, b, time.Now()); err != nil {
		return nil, err
	}
	stored, err := svc.GetBot(ctx, b.Name)
	if err != nil {
		return nil, err
	}
	return &apiv1.AddBotResponse{Bot: botToProto(stored)}, nil
}

func (s botsService) ListBots(ctx context.Context, _ *apiv1.ListBotsRequest) (*apiv1.ListBotsResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	bots, err := svc.ListBots(ctx)
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListBotsResponse{}
	for _, b := range bots {
		out.Bots = append(out.Bots, botToProto(b))
	}
	return out, nil
}

func (s botsService) RemoveBot(ctx context.Context, req *apiv1.RemoveBotRequest) (*apiv1.RemoveBotResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.RemoveBotResponse{}, svc.RemoveBot(ctx, req.GetName())
}

func (s botsService) ResolveSubject(ctx context.Context, req *apiv1.ResolveSubjectRequest) (*apiv1.ResolveSubjectResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	n := auth.Narrowing{Roles: nilIfEmpty(req.GetRoles()), DBUsers: nilIfEmpty(req.GetDbUsers()), DBNames: nilIfEmpty(req.GetDbNames())}
	sub, err := svc.ResolveSubject(ctx, req.GetKind(), req.GetName(), n)
	if err != nil {
		return nil, err
	}
	return &apiv1.ResolveSubjectResponse{Subject: subjectToProto(sub)}, nil
}

// nilIfEmpty reads an empty narrowing list as none: the record's.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// agentsService serves the Agents service.
type agentsService struct {
	apiv1.UnimplementedAgentsServer
	src AuthSource
}

func (s agentsService) RemoveAgent(ctx context.Context, req *apiv1.RemoveAgentRequest) (*apiv1.RemoveAgentResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.RemoveAgentResponse{}, svc.RemoveHost(ctx, req.GetName())
}
