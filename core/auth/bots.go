package auth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/state"
)

// ErrBotNotFound means no bot of that name is stored.
var ErrBotNotFound = WithKind(ErrNotFound, errors.New("no such bot"))

// Bot is a machine identity's record: the roles and traits its
// certificates (keyway auth sign --bot=NAME) carry. A bot has no
// password and never logs in.
type Bot struct {
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	DBUsers []string  `json:"db_users"`
	DBNames []string  `json:"db_names"`
	Created time.Time `json:"created"`
}

// AddBot stores a bot; its name follows the rules of user names.
func (s *Service) AddBot(ctx context.Context, b Bot, now time.Time) error {
	if !userName.MatchString(b.Name) {
		return WithKind(ErrInvalid, fmt.Errorf("%q is not a valid bot name: use lower-case letters, digits, '.', '_' and '-'", b.Name))
	}
	if len(b.Roles) == 0 {
		return WithKind(ErrInvalid, fmt.Errorf("the bot %s needs at least one role (--roles)", b.Name))
	}
	b.Created = now
	err := s.putJSON(ctx, botsPrefix+b.Name, b, state.PutOptions{IfAbsent: true})
	if errors.Is(err, state.ErrConflict) {
		err = WithKind(ErrExists, fmt.Errorf("the bot %s already exists; remove it first with keyway bots rm %s", b.Name, b.Name))
	}
	s.record(ctx, audit.UserCreate, "T1001I", err, audit.Event{Target: "bot/" + b.Name})
	return err
}

// GetBot returns a stored bot.
func (s *Service) GetBot(ctx context.Context, name string) (Bot, error) {
	var b Bot
	_, found, err := s.getJSON(ctx, botsPrefix+name, &b)
	if err != nil {
		return Bot{}, err
	}
	if !found {
		return Bot{}, fmt.Errorf("bot %s: %w", name, ErrBotNotFound)
	}
	return b, nil
}

// ListBots returns every bot, sorted by name.
func (s *Service) ListBots(ctx context.Context) ([]Bot, error) {
	var out []Bot
	err := s.listJSON(ctx, botsPrefix, func(raw []byte) error {
		var b Bot
		if err := jsonUnmarshal(raw, &b); err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// RemoveBot deletes a bot. Certificates already signed for it stay valid
// until they expire.
func (s *Service) RemoveBot(ctx context.Context, name string) error {
	err := s.State.Delete(ctx, botsPrefix+name, 0)
	if errors.Is(err, state.ErrNotFound) {
		err = fmt.Errorf("bot %s: %w", name, ErrBotNotFound)
	}
	s.record(ctx, audit.UserDelete, "T1003I", err, audit.Event{Target: "bot/" + name})
	return err
}
