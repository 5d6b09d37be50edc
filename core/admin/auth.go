package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"
)

// AuthSource gives the admin socket the auth role's records; Auth returns
// nil in processes without the auth role.
type AuthSource interface {
	Auth() *auth.Service
	HostPin(ctx context.Context) (string, error)
}

// UserRequest adds or updates a user.
type UserRequest struct {
	Name      string        `json:"name"`
	Roles     []string      `json:"roles"`
	DBUsers   []string      `json:"db_users"`
	DBNames   []string      `json:"db_names"`
	InviteTTL time.Duration `json:"invite_ttl"`
}

// UserInvite answers a user's creation.
type UserInvite struct {
	User    auth.User `json:"user"`
	Invite  string    `json:"invite"`
	Expires time.Time `json:"expires"`
}

// TokenRequest asks for a join token granting databases by name and by
// the stored labels of db resources (KEY=VALUE pairs).
type TokenRequest struct {
	Type     string        `json:"type"`
	TTL      time.Duration `json:"ttl"`
	DBNames  []string      `json:"db_names,omitempty"`
	DBLabels []string      `json:"db_labels,omitempty"`
}

// TokenResponse is a new join token.
type TokenResponse struct {
	Token  string     `json:"token"`
	Record auth.Token `json:"record"`
}

func handleAuth(mux *http.ServeMux, src AuthSource) {
	with := func(w http.ResponseWriter, f func(*auth.Service) (any, error)) {
		svc := src.Auth()
		if svc == nil {
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "this keyway process has no auth role"})
			return
		}
		out, err := f(svc)
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
	handleSubjects(mux, with)
	mux.HandleFunc("POST /v1/users", func(w http.ResponseWriter, r *http.Request) {
		var req UserRequest
		if !decode(w, r, &req) {
			return
		}
		with(w, func(s *auth.Service) (any, error) {
			u := auth.User{Name: req.Name, Roles: req.Roles, DBUsers: req.DBUsers, DBNames: req.DBNames}
			inv, err := s.AddUser(r.Context(), u, req.InviteTTL, time.Now())
			if err != nil {
				return nil, err
			}
			created, err := s.GetUser(r.Context(), req.Name)
			return UserInvite{User: redact(created), Invite: inv.Secret, Expires: inv.Expires}, err
		})
	})
	mux.HandleFunc("GET /v1/users", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) {
			users, err := s.ListUsers(r.Context())
			for i := range users {
				users[i] = redact(users[i])
			}
			return users, err
		})
	})
	mux.HandleFunc("PATCH /v1/users/{name}", func(w http.ResponseWriter, r *http.Request) {
		var req UserRequest
		if !decode(w, r, &req) {
			return
		}
		with(w, func(s *auth.Service) (any, error) {
			u, err := s.UpdateUser(r.Context(), r.PathValue("name"), req.Roles, req.DBUsers, req.DBNames)
			return redact(u), err
		})
	})
	mux.HandleFunc("DELETE /v1/users/{name}", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return struct{}{}, s.RemoveUser(r.Context(), r.PathValue("name")) })
	})
	mux.HandleFunc("POST /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req TokenRequest
		if !decode(w, r, &req) {
			return
		}
		with(w, func(s *auth.Service) (any, error) {
			pin, err := src.HostPin(r.Context())
			if err != nil {
				return nil, err
			}
			grant, err := auth.ParseGrant(req.DBNames, req.DBLabels)
			if err != nil {
				return nil, err
			}
			tok, rec, err := s.AddToken(r.Context(), req.Type, grant, req.TTL, pin, time.Now())
			return TokenResponse{Token: tok, Record: rec}, err
		})
	})
	mux.HandleFunc("GET /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return s.ListTokens(r.Context()) })
	})
	mux.HandleFunc("DELETE /v1/tokens/{id}", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return struct{}{}, s.RemoveToken(r.Context(), r.PathValue("id")) })
	})
	mux.HandleFunc("PUT /v1/roles/{name}", func(w http.ResponseWriter, r *http.Request) {
		var role access.Role
		if !decode(w, r, &role) {
			return
		}
		role.Name = r.PathValue("name")
		with(w, func(s *auth.Service) (any, error) { return role, s.PutRole(r.Context(), role) })
	})
	mux.HandleFunc("GET /v1/roles", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return s.Roles(r.Context()) })
	})
	mux.HandleFunc("DELETE /v1/roles/{name}", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return struct{}{}, s.RemoveRole(r.Context(), r.PathValue("name")) })
	})
	mux.HandleFunc("DELETE /v1/agents/{name}", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return struct{}{}, s.RemoveHost(r.Context(), r.PathValue("name")) })
	})
	mux.HandleFunc("PUT /v1/databases/{name}", func(w http.ResponseWriter, r *http.Request) {
		var db config.Database
		if !decode(w, r, &db) {
			return
		}
		db.Name = r.PathValue("name")
		with(w, func(s *auth.Service) (any, error) { return db, s.PutDatabase(r.Context(), db) })
	})
	mux.HandleFunc("GET /v1/databases", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return s.Databases(r.Context()) })
	})
	mux.HandleFunc("DELETE /v1/databases/{name}", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) {
			return struct{}{}, s.RemoveDatabase(r.Context(), r.PathValue("name"))
		})
	})
}

// redact keeps secrets' hashes inside the auth process; "-" marks that a
// password or invite is set.
func redact(u auth.User) auth.User {
	if u.PasswordHash != "" {
		u.PasswordHash = "-"
	}
	if u.InviteHash != "" {
		u.InviteHash = "-"
	}
	return u
}
