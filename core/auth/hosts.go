package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/state"
)

// hostsPrefix keeps the host names of joined agents.
const hostsPrefix = "hosts/"

// ErrHostNameTaken means a joined agent holds the host name.
var ErrHostNameTaken = errors.New("host name taken")

// Host is a joined agent's claim on its host name. It lives as long as
// the agent's last host certificate: a join creates it, each renewal
// extends it, and an agent gone for good frees its name when its
// certificate expires, or at once with keyway rm agent/NAME.
type Host struct {
	Name    string    `json:"name"`
	Joined  time.Time `json:"joined"`
	Renewed time.Time `json:"renewed,omitempty"`
	Expires time.Time `json:"expires"`
	// Grant is what the agent's join token let it serve; renewals keep
	// it.
	Grant *DBGrant `json:"grant,omitempty"`
	// Role is TokenProxy for a proxy that joined with a proxy token,
	// empty for a database agent.
	Role string `json:"role,omitempty"`
}

// ClaimHostName records a joining agent's host name, for as long as the
// certificate it is about to get (ttl); it fails with ErrHostNameTaken,
// in a sentence that says what to do, when a joined agent holds it.
func (s *Service) ClaimHostName(ctx context.Context, name string, grant *DBGrant, ttl time.Duration, now time.Time) error {
	return s.claimHost(ctx, Host{Name: name, Joined: now, Expires: now.Add(ttl), Grant: grant}, ttl)
}

// claimHost records a joining host's claim on its name; see
// ClaimHostName.
func (s *Service) claimHost(ctx context.Context, h Host, ttl time.Duration) error {
	name := h.Name
	err := s.putJSON(ctx, hostsPrefix+name, h, state.PutOptions{IfAbsent: true, TTL: ttl})
	if !errors.Is(err, state.ErrConflict) {
		return err
	}
	var held Host
	if _, found, gerr := s.getJSON(ctx, hostsPrefix+name, &held); gerr == nil && found {
		return fmt.Errorf("%w: an agent named %s joined at %s and holds a certificate until %s; give this agent another name (agent_name in its db block), or remove the old one with keyway rm agent/%s", ErrHostNameTaken, name, held.Joined.UTC().Format(time.RFC3339), held.Expires.UTC().Format(time.RFC3339), name)
	}
	return fmt.Errorf("%w: an agent named %s has joined; give this agent another name (agent_name in its db block), or remove the old one with keyway rm agent/%s", ErrHostNameTaken, name, name)
}

// RenewHostName extends an agent's claim on its host name to its renewed
// certificate's lifetime; an agent that joined before names were kept
// gets its claim here.
func (s *Service) RenewHostName(ctx context.Context, name string, ttl time.Duration, now time.Time) error {
	var h Host
	if _, found, err := s.getJSON(ctx, hostsPrefix+name, &h); err != nil {
		return err
	} else if !found {
		h = Host{Name: name, Joined: now}
	}
	h.Renewed, h.Expires = now, now.Add(ttl)
	return s.putJSON(ctx, hostsPrefix+name, h, state.PutOptions{TTL: ttl})
}

// ReleaseHostName forgets a claim that a failed join made.
func (s *Service) ReleaseHostName(ctx context.Context, name string) {
	_ = s.State.Delete(ctx, hostsPrefix+name, 0)
}

// RemoveHost frees an agent's host name, so that a new agent may join
// with it. The old agent's certificate stays valid until it expires, so
// remove only an agent that is gone.
func (s *Service) RemoveHost(ctx context.Context, name string) error {
	err := s.State.Delete(ctx, hostsPrefix+name, 0)
	if errors.Is(err, state.ErrNotFound) {
		err = WithKind(ErrNotFound, fmt.Errorf("no joined agent named %s", name))
	}
	s.record(ctx, audit.HostDelete, "T3003I", err, audit.Event{Target: "host/" + name})
	return err
}

// JoinHost checks the token, claims the host name with the token's
// grant, then consumes the token: only a token holder hears whether a
// name is taken, and a name that is taken leaves the token unused, so
// the operator can join again under another name with it.
//
// It returns the token's type: a proxy token joins a proxy (Host.Role),
// any other a database agent with the token's grant.
func (s *Service) JoinHost(ctx context.Context, secret, name string, ttl time.Duration, now time.Time) (string, error) {
	tok, err := s.CheckToken(ctx, secret, "", now)
	if err != nil {
		return "", err
	}
	h := Host{Name: name, Joined: now, Expires: now.Add(ttl), Grant: tok.Grant}
	if tok.Type == TokenProxy {
		h.Grant, h.Role = nil, TokenProxy
	}
	if err := s.claimHost(ctx, h, ttl); err != nil {
		return "", err
	}
	if err := s.ConsumeToken(ctx, secret, tok.Type, name, now); err != nil {
		s.ReleaseHostName(ctx, name)
		return "", err
	}
	return tok.Type, nil
}

// IsProxy reports whether the host called name joined as a proxy, with
// a proxy token.
func (s *Service) IsProxy(ctx context.Context, name string) (bool, error) {
	var h Host
	_, found, err := s.getJSON(ctx, hostsPrefix+name, &h)
	if err != nil {
		return false, fmt.Errorf("reading the host record of %s: %w", name, err)
	}
	return found && h.Role == TokenProxy, nil
}
