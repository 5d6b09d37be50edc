package admin

import (
	"context"
	"net/http"

	"github.com/keyway-dev/keyway/sdk"
)

// CheckRequest asks what the cluster would decide for a user.
type CheckRequest struct {
	User     string `json:"user"`
	Database string `json:"database"`
	DBUser   string `json:"db_user"`
	DBName   string `json:"db_name"`
}

// AccessChecker answers keyway access check.
type AccessChecker interface {
	CheckAccess(ctx context.Context, req CheckRequest) (sdk.Authorization, error)
}

func handleAccess(mux *http.ServeMux, src Source) {
	checker, ok := src.(AccessChecker)
	if !ok {
		return
	}
	mux.HandleFunc("POST /v1/access/check", func(w http.ResponseWriter, r *http.Request) {
		var req CheckRequest
		if !decode(w, r, &req) {
			return
		}
		d, err := checker.CheckAccess(r.Context(), req)
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
}

// CheckAccess asks the running keyway for a decision.
func (c *Client) CheckAccess(ctx context.Context, req CheckRequest) (sdk.Authorization, error) {
	var out sdk.Authorization
	return out, c.do(ctx, http.MethodPost, "/v1/access/check", req, &out)
}
