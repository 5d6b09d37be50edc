package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyway-dev/keyway/core/access"
)

// Subject is what an identity signed by keyway auth sign carries: the
// stored record's roles and traits, narrowed by what the command asked.
type Subject struct {
	// Kind is "user" or "bot".
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
	DBUsers []string `json:"db_users"`
	DBNames []string `json:"db_names"`
	// MaxTTL is the smallest max_session_ttl among the record's roles,
	// set by the role CappedBy; zero when no role sets one.
	MaxTTL   time.Duration `json:"max_ttl,omitempty"`
	CappedBy string        `json:"capped_by,omitempty"`
}

// Narrowing asks for at most a stored record's roles and traits; nil
// lists take the record's.
type Narrowing struct {
	Roles   []string `json:"roles,omitempty"`
	DBUsers []string `json:"db_users,omitempty"`
	DBNames []string `json:"db_names,omitempty"`
}

// ResolveSubject returns the stored user or bot named name with its
// roles and traits, narrowed by n: an unknown name is refused, and so is
// a role or trait the record does not hold, since signing may only take
// away.
func (s *Service) ResolveSubject(ctx context.Context, kind, name string, n Narrowing) (Subject, error) {
	sub := Subject{Kind: kind, Name: name}
	switch kind {
	case "user":
		u, err := s.GetUser(ctx, name)
		if err != nil {
			return Subject{}, fmt.Errorf("%w; keyway signs only stored users: add it with keyway users add %s --roles=ROLES", err, name)
		}
		sub.Roles, sub.DBUsers, sub.DBNames = u.Roles, u.DBUsers, u.DBNames
	case "bot":
		b, err := s.GetBot(ctx, name)
		if err != nil {
			return Subject{}, fmt.Errorf("%w; keyway signs only stored bots: add it with keyway bots add %s --roles=ROLES", err, name)
		}
		sub.Roles, sub.DBUsers, sub.DBNames = b.Roles, b.DBUsers, b.DBNames
	default:
		return Subject{}, WithKind(ErrInvalid, fmt.Errorf("unknown identity kind %q: user or bot", kind))
	}
	// The cap follows the roles the record holds, so that narrowing
	// cannot drop the role that sets it.
	roles, err := s.Roles(ctx)
	if err != nil {
		return Subject{}, fmt.Errorf("reading the roles of the %s %s: %w", kind, name, err)
	}
	sub.MaxTTL, sub.CappedBy = access.SessionTTLCap(roles, sub.Roles)
	if sub.Roles, err = narrow(kind, name, "role", sub.Roles, n.Roles, false); err != nil {
		return Subject{}, err
	}
	if sub.DBUsers, err = narrow(kind, name, "database user", sub.DBUsers, n.DBUsers, true); err != nil {
		return Subject{}, err
	}
	if sub.DBNames, err = narrow(kind, name, "logical database", sub.DBNames, n.DBNames, true); err != nil {
		return Subject{}, err
	}
	return sub, nil
}

// narrow returns asked when every value of it is held (a trait held as
// "*" holds every value), or held when nothing is asked.
func narrow(kind, name, what string, held, asked []string, wildcard bool) ([]string, error) {
	if asked == nil {
		return held, nil
	}
	for _, v := range asked {
		if slices.Contains(held, v) || wildcard && slices.Contains(held, "*") {
			continue
		}
		have := strings.Join(held, ",")
		if have == "" {
			have = "none"
		}
		return nil, WithKind(ErrInvalid, fmt.Errorf("the %s %s does not hold the %s %q (it holds: %s); auth sign may only narrow what is stored, so change the stored record first", kind, name, what, v, have))
	}
	return asked, nil
}
