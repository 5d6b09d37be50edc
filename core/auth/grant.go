package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/config"
)

// AnyName is the database name a grant uses for every name.
const AnyName = "*"

// DBGrant is what a db join token lets its agent serve, kept with the
// agent's host record when it joins: databases by name, and db resources
// whose stored labels the selector matches. The labels an agent claims
// for a database never count: an agent that could claim labels into its
// grant could claim any database.
type DBGrant struct {
	// Names are the database names granted; "*" grants every name.
	Names []string `json:"names,omitempty"`
	// Labels selects db resources (keyway create db) by their stored
	// labels, with the meaning of a role's db_labels.
	Labels access.LabelSelector `json:"labels,omitempty"`
	// FirstClaim, on a token made without --db-names or --db-labels,
	// grants the databases its agent registers first, except those
	// another joined agent's grant names; that first registration then
	// fixes Names (ClaimGrant) and FirstClaim is cleared.
	FirstClaim bool `json:"first_claim,omitempty"`
}

// IsEmpty reports whether the grant allows nothing.
func (g DBGrant) IsEmpty() bool { return len(g.Names) == 0 && len(g.Labels) == 0 && !g.FirstClaim }

// String describes the grant for messages: names=[a b] labels={env=prod}.
func (g DBGrant) String() string {
	if g.FirstClaim {
		return "the databases its agent registers first that no other agent was granted"
	}
	if g.IsEmpty() {
		return "no databases"
	}
	var parts []string
	if len(g.Names) > 0 {
		parts = append(parts, "names "+strings.Join(g.Names, ","))
	}
	if len(g.Labels) > 0 {
		keys := make([]string, 0, len(g.Labels))
		for k := range g.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ls []string
		for _, k := range keys {
			for _, v := range g.Labels[k] {
				ls = append(ls, k+"="+v)
			}
		}
		parts = append(parts, "db resources labelled "+strings.Join(ls, ","))
	}
	return strings.Join(parts, " and ")
}

// Check reports why the grant does not cover the database name, or nil
// when it does. stored is the db resource of that name, when one exists:
// a label selector matches only a stored resource's labels.
func (g DBGrant) Check(name string, stored *config.Database) error {
	if slices.Contains(g.Names, AnyName) || slices.Contains(g.Names, name) {
		return nil
	}
	if len(g.Labels) > 0 {
		if stored == nil {
			return fmt.Errorf("the database %s is not among the names its join token granted (%s), and no db resource named %s exists whose stored labels the granted selector could match", name, g, name)
		}
		if g.Labels.Match(stored.Labels) {
			return nil
		}
		return fmt.Errorf("the database %s is not among the names its join token granted, and the stored labels of the db resource %s do not match the granted selector (%s)", name, name, g)
	}
	if g.IsEmpty() {
		return fmt.Errorf("the agent's join token granted no databases, so it may serve none (%s)", name)
	}
	return fmt.Errorf("the database %s is not among the databases its join token granted (%s)", name, g)
}

// ParseGrant builds a grant from the flags of keyway tokens add: names
// as a list and labels as KEY=VALUE pairs (a key given twice accepts
// either value). Without either, the grant is the agent's first claim.
// It refuses empty names and malformed pairs.
func ParseGrant(names, labels []string) (DBGrant, error) {
	if len(names) == 0 && len(labels) == 0 {
		return DBGrant{FirstClaim: true}, nil
	}
	var g DBGrant
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			return DBGrant{}, WithKind(ErrInvalid, errors.New("an empty database name in --db-names; list names separated by commas, or * for every name"))
		}
		if !slices.Contains(g.Names, n) {
			g.Names = append(g.Names, n)
		}
	}
	for _, kv := range labels {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" || v == "" {
			return DBGrant{}, WithKind(ErrInvalid, fmt.Errorf("the label %q in --db-labels is not KEY=VALUE (for example env=prod)", kv))
		}
		if g.Labels == nil {
			g.Labels = access.LabelSelector{}
		}
		g.Labels[k] = append(g.Labels[k], v)
	}
	return g, nil
}

// HostGrant returns the grant of a joined agent: the one its join token
// carried. An agent with no host record (removed with keyway rm agent/,
// or joined before grants were kept) has an empty grant, so it may serve
// nothing until it joins again with a token that grants databases.
func (s *Service) HostGrant(ctx context.Context, name string) (DBGrant, error) {
	var h Host
	_, found, err := s.getJSON(ctx, hostsPrefix+name, &h)
	if err != nil {
		return DBGrant{}, fmt.Errorf("reading the grant of the agent %s: %w", name, err)
	}
	if !found || h.Grant == nil {
		return DBGrant{}, nil
	}
	return *h.Grant, nil
}
