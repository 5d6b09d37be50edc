package admin

import (
	"context"
	"net/http"
)

// Process is what a running keyway reports of itself as a process.
type Process struct {
	// OpenFilesSoft and OpenFilesHard are its RLIMIT_NOFILE; zero where
	// the system has none.
	OpenFilesSoft uint64 `json:"open_files_soft"`
	OpenFilesHard uint64 `json:"open_files_hard"`
	// OpenFiles is how many descriptors it holds; -1 when unknown.
	OpenFiles int `json:"open_files"`
}

// ProcessSource is implemented by sources that report on their process.
type ProcessSource interface {
	Process() Process
}

func handleProcess(mux *http.ServeMux, src ProcessSource) {
	mux.HandleFunc("GET /v1/process", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, src.Process())
	})
}

// Process reports on the running keyway process.
func (c *Client) Process(ctx context.Context) (Process, error) {
	var out Process
	return out, c.do(ctx, http.MethodGet, "/v1/process", nil, &out)
}
