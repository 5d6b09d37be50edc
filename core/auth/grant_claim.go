package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyway-dev/keyway/core/state"
)

// claimRetries bounds how often ClaimGrant reads the host record again
// when it changed under it (a renewal, or another proxy's claim).
const claimRetries = 3

// ClaimGrant fixes the grant of an agent whose join token granted its
// first claim (DBGrant.FirstClaim): of the names it registers now, those
// no other joined agent's grant names become its grant, kept with its
// host record, so that a later registration cannot widen it. held maps
// each name left out to the agent whose grant names it. An agent whose
// grant is already fixed gets it unchanged.
func (s *Service) ClaimGrant(ctx context.Context, agent string, names []string) (grant DBGrant, held map[string]string, err error) {
	for range claimRetries {
		var h Host
		rev, found, err := s.getJSON(ctx, hostsPrefix+agent, &h)
		if err != nil {
			return DBGrant{}, nil, fmt.Errorf("reading the grant of the agent %s: %w", agent, err)
		}
		if !found || h.Grant == nil || !h.Grant.FirstClaim {
			g, err := s.HostGrant(ctx, agent)
			return g, nil, err
		}
		held, err := s.grantedElsewhere(ctx, agent)
		if err != nil {
			return DBGrant{}, nil, err
		}
		fixed := DBGrant{Names: []string{}}
		left := map[string]string{}
		for _, n := range names {
			if other, ok := held[n]; ok {
				left[n] = other
			} else if !slices.Contains(fixed.Names, n) {
				fixed.Names = append(fixed.Names, n)
			}
		}
		h.Grant = &fixed
		ttl := time.Until(h.Expires)
		if ttl < time.Second {
			ttl = time.Second
		}
		err = s.putJSON(ctx, hostsPrefix+agent, h, state.PutOptions{IfRevision: rev, TTL: ttl})
		if errors.Is(err, state.ErrConflict) {
			continue
		}
		if err != nil {
			return DBGrant{}, nil, fmt.Errorf("keeping the databases the agent %s claimed: %w", agent, err)
		}
		return fixed, left, nil
	}
	return DBGrant{}, nil, fmt.Errorf("the host record of the agent %s kept changing while its first registration was recorded; it registers again shortly", agent)
}

// grantedElsewhere maps each database name that a joined agent other
// than agent was granted by name to that agent. Grants of every name
// ("*") and by labels hold no name against a claim.
func (s *Service) grantedElsewhere(ctx context.Context, agent string) (map[string]string, error) {
	out := map[string]string{}
	err := s.listJSON(ctx, hostsPrefix, func(b []byte) error {
		var h Host
		if err := jsonUnmarshal(b, &h); err != nil || h.Name == agent || h.Grant == nil {
			return nil
		}
		for _, n := range h.Grant.Names {
			if n != AnyName {
				out[n] = h.Name
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the grants of the joined agents: %w", err)
	}
	return out, nil
}
