package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/state"
)

// PutDatabase creates or replaces a db resource: a database that agents
// whose resources selector matches its labels serve. It is checked with
// config.CheckDatabase first.
func (s *Service) PutDatabase(ctx context.Context, db config.Database) error {
	err := config.CheckDatabase(db)
	if err != nil {
		err = WithKind(ErrInvalid, err)
	} else {
		err = s.putJSON(ctx, databasesPrefix+db.Name, db, state.PutOptions{})
	}
	s.record(ctx, audit.DBCreate, "T9100I", err, audit.Event{Target: "db/" + db.Name, DBService: db.Name})
	return err
}

// RemoveDatabase deletes a db resource. Agents stop serving it as soon as
// their watch reports the deletion.
func (s *Service) RemoveDatabase(ctx context.Context, name string) error {
	err := s.State.Delete(ctx, databasesPrefix+name, 0)
	if errors.Is(err, state.ErrNotFound) {
		err = WithKind(ErrNotFound, fmt.Errorf("no db resource named %s", name))
	}
	s.record(ctx, audit.DBDelete, "T9101I", err, audit.Event{Target: "db/" + name, DBService: name})
	return err
}

// GetDatabase returns a db resource; found is false when there is none
// of that name.
func (s *Service) GetDatabase(ctx context.Context, name string) (db config.Database, found bool, err error) {
	_, found, err = s.getJSON(ctx, databasesPrefix+name, &db)
	return db, found, err
}

// Databases returns the db resources sorted by name.
func (s *Service) Databases(ctx context.Context) ([]config.Database, error) {
	var out []config.Database
	err := s.listJSON(ctx, databasesPrefix, func(b []byte) error {
		var db config.Database
		if err := json.Unmarshal(b, &db); err != nil {
			return err
		}
		out = append(out, db)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// WatchDatabases calls apply with every db resource now, then again each
// time one is created, replaced or deleted, until ctx ends or apply
// fails. It follows the state backend's watch, so a write through any
// auth instance sharing the backend reaches it without polling; changes
// that arrive together are applied once. When the watch breaks (the
// backend closed, or this watcher fell behind), it lists and watches
// again, so no change is missed. It returns ctx's error or apply's.
func (s *Service) WatchDatabases(ctx context.Context, apply func([]config.Database) error) error {
	for {
		events, err := s.State.Watch(ctx, databasesPrefix)
		if err != nil {
			return fmt.Errorf("watching db resources: %w", err)
		}
		if err := s.applyDatabases(ctx, apply); err != nil {
			return err
		}
		lost := false
		for !lost {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case e, ok := <-events:
				if !ok || e.Type == state.EventLost {
					lost = true
					break
				}
				if !drain(events) {
					lost = true
				}
				if err := s.applyDatabases(ctx, apply); err != nil {
					return err
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// drain consumes the events already queued; false when the watch broke
// among them.
func drain(events <-chan state.Event) bool {
	for {
		select {
		case e, ok := <-events:
			if !ok || e.Type == state.EventLost {
				return false
			}
		default:
			return true
		}
	}
}

func (s *Service) applyDatabases(ctx context.Context, apply func([]config.Database) error) error {
	dbs, err := s.Databases(ctx)
	if err != nil {
		return fmt.Errorf("listing db resources: %w", err)
	}
	return apply(dbs)
}
