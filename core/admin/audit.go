package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// AuditSource gives the admin socket the audit log. A Source that
// implements it serves GET /v1/audit; AuditSearcher returns nil in a
// process that keeps no audit log.
type AuditSource interface {
	AuditSearcher() audit.Searcher
}

// handleAudit serves GET /v1/audit?type=&user=&db=&since=RFC3339&limit=:
// the matching events, oldest first; with limit, the newest that many.
func handleAudit(mux *http.ServeMux, src AuditSource) {
	mux.HandleFunc("GET /v1/audit", func(w http.ResponseWriter, r *http.Request) {
		f, err := parseAuditFilter(r.URL.Query())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
			return
		}
		s := src.AuditSearcher()
		if s == nil {
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "this keyway process keeps no audit log"})
			return
		}
		events, err := s.Search(r.Context(), f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
		default:
			writeJSON(w, http.StatusOK, events)
		}
	})
}

// auditQuery encodes a filter as /v1/audit's query parameters.
func auditQuery(f audit.Filter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"type": f.Type, "user": f.User, "db": f.DB} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// parseAuditFilter reads /v1/audit's query parameters.
func parseAuditFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{Type: q.Get("type"), User: q.Get("user"), DB: q.Get("db")}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return f, fmt.Errorf("since = %q is not an RFC 3339 time: %w", s, err)
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return f, fmt.Errorf("limit = %q is not a number of events", s)
		}
		f.Limit = n
	}
	return f, nil
}

// Audit searches the running process's audit log.
func (c *Client) Audit(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	var out []audit.Event
	path := "/v1/audit"
	if q := auditQuery(f).Encode(); q != "" {
		path += "?" + q
	}
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}
