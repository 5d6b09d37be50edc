package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/keyway-dev/keyway/core/auth"
)

// BotRequest adds a bot.
type BotRequest struct {
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
	DBUsers []string `json:"db_users"`
	DBNames []string `json:"db_names"`
}

// SubjectRequest asks for the stored user or bot an identity is signed
// for, narrowed.
type SubjectRequest struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	auth.Narrowing
}

// handleSubjects serves bots and the resolution of the subjects of
// signed identities.
func handleSubjects(mux *http.ServeMux, with func(http.ResponseWriter, func(*auth.Service) (any, error))) {
	mux.HandleFunc("POST /v1/bots", func(w http.ResponseWriter, r *http.Request) {
		var req BotRequest
		if !decode(w, r, &req) {
			return
		}
		with(w, func(s *auth.Service) (any, error) {
			b := auth.Bot{Name: req.Name, Roles: req.Roles, DBUsers: req.DBUsers, DBNames: req.DBNames}
			if err := s.AddBot(r.Context(), b, time.Now()); err != nil {
				return nil, err
			}
			return s.GetBot(r.Context(), req.Name)
		})
	})
	mux.HandleFunc("GET /v1/bots", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return s.ListBots(r.Context()) })
	})
	mux.HandleFunc("DELETE /v1/bots/{name}", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return struct{}{}, s.RemoveBot(r.Context(), r.PathValue("name")) })
	})
	mux.HandleFunc("POST /v1/subjects", func(w http.ResponseWriter, r *http.Request) {
		var req SubjectRequest
		if !decode(w, r, &req) {
			return
		}
		with(w, func(s *auth.Service) (any, error) {
			return s.ResolveSubject(r.Context(), req.Kind, req.Name, req.Narrowing)
		})
	})
}

// AddBot stores a bot.
func (c *Client) AddBot(ctx context.Context, req BotRequest) (auth.Bot, error) {
	var out auth.Bot
	return out, c.do(ctx, http.MethodPost, "/v1/bots", req, &out)
}

// Bots lists the bots.
func (c *Client) Bots(ctx context.Context) ([]auth.Bot, error) {
	var out []auth.Bot
	return out, c.do(ctx, http.MethodGet, "/v1/bots", nil, &out)
}

// RemoveBot deletes a bot.
func (c *Client) RemoveBot(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/bots/"+url.PathEscape(name), nil, nil)
}

// Subject returns the stored user or bot an identity is signed for,
// narrowed as asked; unknown names and widening are refused.
func (c *Client) Subject(ctx context.Context, req SubjectRequest) (auth.Subject, error) {
	var out auth.Subject
	return out, c.do(ctx, http.MethodPost, "/v1/subjects", req, &out)
}
