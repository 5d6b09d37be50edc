package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/keyway-dev/keyway/core/auth"
)

// LockRequest asks for a lock.
type LockRequest struct {
	Target  auth.LockTarget `json:"target"`
	Message string          `json:"message"`
	// TTL is how long the lock lasts; 0 until unlocked.
	TTL time.Duration `json:"ttl"`
}

// handleLocks serves keyway lock, locks ls and unlock.
func handleLocks(mux *http.ServeMux, src AuthSource) {
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
	mux.HandleFunc("POST /v1/locks", func(w http.ResponseWriter, r *http.Request) {
		var req LockRequest
		if !decode(w, r, &req) {
			return
		}
		with(w, func(s *auth.Service) (any, error) {
			return s.AddLock(r.Context(), req.Target, req.Message, req.TTL, time.Now())
		})
	})
	mux.HandleFunc("GET /v1/locks", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return s.Locks(r.Context()) })
	})
	mux.HandleFunc("DELETE /v1/locks/{id}", func(w http.ResponseWriter, r *http.Request) {
		with(w, func(s *auth.Service) (any, error) { return struct{}{}, s.RemoveLock(r.Context(), r.PathValue("id")) })
	})
}

// AddLock creates a lock.
func (c *Client) AddLock(ctx context.Context, req LockRequest) (auth.Lock, error) {
	var out auth.Lock
	return out, c.do(ctx, http.MethodPost, "/v1/locks", req, &out)
}

// Locks lists the locks in force.
func (c *Client) Locks(ctx context.Context) ([]auth.Lock, error) {
	var out []auth.Lock
	return out, c.do(ctx, http.MethodGet, "/v1/locks", nil, &out)
}

// RemoveLock deletes a lock.
func (c *Client) RemoveLock(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/locks/"+url.PathEscape(id), nil, nil)
}
