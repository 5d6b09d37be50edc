package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/state"
)

// PutRole creates or replaces a role. Built-in roles cannot be replaced.
func (s *Service) PutRole(ctx context.Context, r access.Role) error {
	if isBuiltin(r.Name) {
		return WithKind(ErrInvalid, fmt.Errorf("role %s is built in and cannot be replaced", r.Name))
	}
	err := s.putJSON(ctx, rolesPrefix+r.Name, r, state.PutOptions{})
	s.record(ctx, audit.RoleCreate, "T9000I", err, audit.Event{Target: r.Name})
	return err
}

// RemoveRole deletes a role.
func (s *Service) RemoveRole(ctx context.Context, name string) error {
	if isBuiltin(name) {
		return WithKind(ErrInvalid, fmt.Errorf("role %s is built in and cannot be removed", name))
	}
	err := s.State.Delete(ctx, rolesPrefix+name, 0)
	if errors.Is(err, state.ErrNotFound) {
		err = WithKind(ErrNotFound, fmt.Errorf("no role named %s", name))
	}
	s.record(ctx, audit.RoleDelete, "T9001I", err, audit.Event{Target: name})
	return err
}

// Roles returns the built-in roles and the stored ones, sorted by name:
// it is the access.RoleSource of the cluster, read on each decision so
// that changes apply at once.
func (s *Service) Roles(ctx context.Context) ([]access.Role, error) {
	out := access.BuiltinRoles()
	err := s.listJSON(ctx, rolesPrefix, func(b []byte) error {
		var r access.Role
		if err := jsonUnmarshal(b, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func isBuiltin(name string) bool {
	return slices.ContainsFunc(access.BuiltinRoles(), func(r access.Role) bool { return r.Name == name })
}
