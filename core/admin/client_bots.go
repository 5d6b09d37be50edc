package admin

import (
	"context"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
)

// BotRequest adds a bot.
type BotRequest struct {
	Name    string
	Roles   []string
	DBUsers []string
	DBNames []string
}

// SubjectRequest asks for the stored user or bot an identity is signed
// for, narrowed.
type SubjectRequest struct {
	// Kind is "user" or "bot".
	Kind string
	Name string
	auth.Narrowing
}

// AddBot stores a bot.
func (c *Client) AddBot(ctx context.Context, req BotRequest) (auth.Bot, error) {
	resp, err := apiv1.NewBotsClient(c.cc).AddBot(ctx, &apiv1.AddBotRequest{Name: req.Name, Roles: req.Roles, DbUsers: req.DBUsers, DbNames: req.DBNames})
	if err != nil {
		return auth.Bot{}, err
	}
	return botFromProto(resp.GetBot()), nil
}

// Bots lists the bots.
func (c *Client) Bots(ctx context.Context) ([]auth.Bot, error) {
	resp, err := apiv1.NewBotsClient(c.cc).ListBots(ctx, &apiv1.ListBotsRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]auth.Bot, 0, len(resp.GetBots()))
	for _, b := range resp.GetBots() {
		out = append(out, botFromProto(b))
	}
	return out, nil
}

// RemoveBot deletes a bot.
func (c *Client) RemoveBot(ctx context.Context, name string) error {
	_, err := apiv1.NewBotsClient(c.cc).RemoveBot(ctx, &apiv1.RemoveBotRequest{Name: name})
	return err
}

// Subject returns the stored user or bot an identity is signed for,
// narrowed as asked; unknown names and widening are refused.
func (c *Client) Subject(ctx context.Context, req SubjectRequest) (auth.Subject, error) {
	resp, err := apiv1.NewBotsClient(c.cc).ResolveSubject(ctx, &apiv1.ResolveSubjectRequest{
		Kind: req.Kind, Name: req.Name, Roles: req.Roles, DbUsers: req.DBUsers, DbNames: req.DBNames,
	})
	if err != nil {
		return auth.Subject{}, err
	}
	return subjectFromProto(resp.GetSubject()), nil
}
