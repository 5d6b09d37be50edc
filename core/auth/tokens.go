package auth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/state"
)

// Join token policy.
const (
	DefaultTokenTTL = 30 * time.Minute
	// tokenGrace keeps used and expired tokens this long, so a late join
	// hears why it failed rather than "unknown token".
	tokenGrace = 24 * time.Hour
	// tokenVersion prefixes token strings.
	tokenVersion = "kw1"
)

// Join token types.
const (
	// TokenDB joins a database agent, with the databases it may serve.
	TokenDB = "db"
	// TokenProxy joins a proxy that runs without the auth role.
	TokenProxy = "proxy"
)

// Token is a join token's record. The secret itself is never stored.
type Token struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	UsedAt  time.Time `json:"used_at,omitempty"`
	UsedBy  string    `json:"used_by,omitempty"`
	// Grant is what the joining agent may serve. Tokens made before
	// grants existed have none, and their agents may serve nothing.
	Grant *DBGrant `json:"grant,omitempty"`
}

// AddToken creates a single-use join token granting the databases its
// agent may serve; a db token must grant something. The returned string
// carries the secret and the pin of the cluster's host authority, so the
// joining agent can verify the proxy before it sends the token.
func (s *Service) AddToken(ctx context.Context, typ string, grant DBGrant, ttl time.Duration, hostPin string, now time.Time) (string, Token, error) {
	switch typ {
	case TokenDB:
	case TokenProxy:
		if len(grant.Names) > 0 || len(grant.Labels) > 0 {
			return "", Token{}, WithKind(ErrInvalid, errors.New("a proxy join token grants no databases: drop --db-names and --db-labels"))
		}
	default:
		return "", Token{}, WithKind(ErrInvalid, fmt.Errorf("unknown token type %q: use db (an agent) or proxy (a proxy without the auth role)", typ))
	}
	if typ == TokenDB && grant.IsEmpty() {
		return "", Token{}, WithKind(ErrInvalid, errors.New("a db join token must grant the databases its agent may serve: give --db-names=NAME,... and/or --db-labels=KEY=VALUE,... (--db-names='*' grants every name)"))
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	secret := newSecret(16)
	hash := hashSecret(secret)
	t := Token{ID: hash[:12], Type: typ, Created: now, Expires: now.Add(ttl)}
	reason := "joins a proxy"
	if typ == TokenDB {
		t.Grant, reason = &grant, "grants "+grant.String()
	}
	err := s.putJSON(ctx, tokensPrefix+hash, t, state.PutOptions{IfAbsent: true, TTL: ttl + tokenGrace})
	s.record(ctx, audit.TokenCreate, "T3001I", err, audit.Event{Target: t.ID, Reason: reason})
	if err != nil {
		return "", Token{}, err
	}
	return strings.Join([]string{tokenVersion, secret, strings.TrimPrefix(hostPin, "sha256:")}, "."), t, nil
}

// ParseToken splits a token string into its secret and host pin.
func ParseToken(s string) (secret, hostPin string, err error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 3 || parts[0] != tokenVersion || len(parts[1]) != 32 || len(parts[2]) != 64 {
		return "", "", errors.New("this is not a keyway join token (expected kw1.SECRET.PIN from keyway tokens add)")
	}
	return parts[1], "sha256:" + parts[2], nil
}

// ConsumeToken uses a token once. The error says whether it was unknown,
// expired or used before.
func (s *Service) ConsumeToken(ctx context.Context, secret, typ, usedBy string, now time.Time) error {
	key := tokensPrefix + hashSecret(secret)
	for {
		var t Token
		rev, found, err := s.getJSON(ctx, key, &t)
		if err != nil {
			return err
		}
		if err := usable(t, found, typ, now); err != nil {
			return err
		}
		t.UsedAt, t.UsedBy = now, usedBy
		err = s.putJSON(ctx, key, t, state.PutOptions{IfRevision: rev, TTL: tokenGrace})
		if errors.Is(err, state.ErrConflict) {
			continue
		}
		return err
	}
}

// CheckToken returns a token that could be used now, without using it.
func (s *Service) CheckToken(ctx context.Context, secret, typ string, now time.Time) (Token, error) {
	var t Token
	_, found, err := s.getJSON(ctx, tokensPrefix+hashSecret(secret), &t)
	if err != nil {
		return Token{}, err
	}
	return t, usable(t, found, typ, now)
}

// usable says why a token cannot be used, if it cannot.
func usable(t Token, found bool, typ string, now time.Time) error {
	switch {
	case !found:
		return errors.New("the join token is unknown to this cluster; create one with keyway tokens add")
	case !t.UsedAt.IsZero():
		return fmt.Errorf("the join token %s was already used at %s by %s; tokens are single use", t.ID, t.UsedAt.UTC().Format(time.RFC3339), t.UsedBy)
	case now.After(t.Expires):
		return fmt.Errorf("the join token %s expired at %s; create a new one with keyway tokens add", t.ID, t.Expires.UTC().Format(time.RFC3339))
	case typ != "" && t.Type != typ:
		return fmt.Errorf("the join token %s is for %s, not %s", t.ID, t.Type, typ)
	}
	return nil
}

// ListTokens returns tokens not yet used, by expiry.
func (s *Service) ListTokens(ctx context.Context) ([]Token, error) {
	var out []Token
	err := s.listJSON(ctx, tokensPrefix, func(b []byte) error {
		var t Token
		if err := jsonUnmarshal(b, &t); err != nil {
			return err
		}
		if t.UsedAt.IsZero() {
			out = append(out, t)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
	return out, err
}

// RemoveToken deletes the token whose ID is id.
func (s *Service) RemoveToken(ctx context.Context, id string) error {
	kvs, err := s.State.List(ctx, tokensPrefix)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if strings.HasPrefix(strings.TrimPrefix(kv.Key, tokensPrefix), id) && len(id) >= 8 {
			err := s.State.Delete(ctx, kv.Key, 0)
			s.record(ctx, audit.TokenDelete, "T3002I", err, audit.Event{Target: id})
			return err
		}
	}
	return WithKind(ErrNotFound, fmt.Errorf("no join token with id %s (keyway tokens ls lists them)", id))
}
