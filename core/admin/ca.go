package admin

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
)

// CASource gives the admin socket the running CA plugin.
type CASource interface {
	CA(ctx context.Context) (authority.CA, error)
}

// errorBody is how the admin socket reports a failed request.
type errorBody struct {
	Error string `json:"error"`
}

func handleCA(mux *http.ServeMux, src CASource) {
	mux.HandleFunc("GET /v1/ca/authorities", func(w http.ResponseWriter, r *http.Request) {
		withCA(w, r, src, func(ca authority.CA) (any, error) { return ca.Authorities(r.Context()) })
	})
	mux.HandleFunc("POST /v1/ca/sign", func(w http.ResponseWriter, r *http.Request) {
		var req sdk.SignRequest
		if !decode(w, r, &req) {
			return
		}
		withCA(w, r, src, func(ca authority.CA) (any, error) { return ca.Sign(r.Context(), req) })
	})
	mux.HandleFunc("POST /v1/ca/rotate", func(w http.ResponseWriter, r *http.Request) {
		var req sdk.RotateRequest
		if !decode(w, r, &req) {
			return
		}
		withCA(w, r, src, func(ca authority.CA) (any, error) { return ca.Rotate(r.Context(), req) })
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "malformed request: " + err.Error()})
		return false
	}
	return true
}

func withCA(w http.ResponseWriter, r *http.Request, src CASource, f func(authority.CA) (any, error)) {
	ca, err := src.CA(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: err.Error()})
		return
	}
	out, err := f(ca)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
