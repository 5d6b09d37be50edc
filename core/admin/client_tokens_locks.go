package admin

import (
	"context"
	"time"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
)

// TokenRequest asks for a join token granting databases by name and by
// the stored labels of db resources (KEY=VALUE pairs).
type TokenRequest struct {
	Type     string
	TTL      time.Duration
	DBNames  []string
	DBLabels []string
}

// TokenResponse is a new join token.
type TokenResponse struct {
	Token  string
	Record auth.Token
}

// AddToken creates a join token.
func (c *Client) AddToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	resp, err := apiv1.NewTokensClient(c.cc).AddToken(ctx, &apiv1.AddTokenRequest{
		Type: req.Type, Ttl: duration(req.TTL), DbNames: req.DBNames, DbLabels: req.DBLabels,
	})
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{Token: resp.GetToken(), Record: tokenFromProto(resp.GetRecord())}, nil
}

// Tokens lists unused join tokens.
func (c *Client) Tokens(ctx context.Context) ([]auth.Token, error) {
	resp, err := apiv1.NewTokensClient(c.cc).ListTokens(ctx, &apiv1.ListTokensRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]auth.Token, 0, len(resp.GetTokens()))
	for _, t := range resp.GetTokens() {
		out = append(out, tokenFromProto(t))
	}
	return out, nil
}

// RemoveToken deletes a join token.
func (c *Client) RemoveToken(ctx context.Context, id string) error {
	_, err := apiv1.NewTokensClient(c.cc).RemoveToken(ctx, &apiv1.RemoveTokenRequest{Id: id})
	return err
}

// LockRequest asks for a lock.
type LockRequest struct {
	Target  auth.LockTarget
	Message string
	// TTL is how long the lock lasts; 0 until unlocked.
	TTL time.Duration
}

// AddLock creates a lock.
func (c *Client) AddLock(ctx context.Context, req LockRequest) (auth.Lock, error) {
	resp, err := apiv1.NewLocksClient(c.cc).AddLock(ctx, &apiv1.AddLockRequest{
		Target: lockTargetToProto(req.Target), Message: req.Message, Ttl: duration(req.TTL),
	})
	if err != nil {
		return auth.Lock{}, err
	}
	return lockFromProto(resp.GetLock()), nil
}

// Locks lists the locks in force.
func (c *Client) Locks(ctx context.Context) ([]auth.Lock, error) {
	resp, err := apiv1.NewLocksClient(c.cc).ListLocks(ctx, &apiv1.ListLocksRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]auth.Lock, 0, len(resp.GetLocks()))
	for _, l := range resp.GetLocks() {
		out = append(out, lockFromProto(l))
	}
	return out, nil
}

// RemoveLock deletes a lock.
func (c *Client) RemoveLock(ctx context.Context, id string) error {
	_, err := apiv1.NewLocksClient(c.cc).RemoveLock(ctx, &apiv1.RemoveLockRequest{Id: id})
	return err
}
