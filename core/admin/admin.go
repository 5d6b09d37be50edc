// Package admin is the admin API of a running keyway (core/api's
// admin.proto): its gRPC services over a Source, which every keyway
// serves on its local admin socket (a Unix socket under the data
// directory, mode 0600) and whose services of the cluster's records the
// proxy serves to remote administrators; and the Client the CLI calls
// them with.
package admin

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
)

// SocketName is the admin socket's file name inside the data directory.
const SocketName = "keyway.sock"

// SocketPath returns the admin socket of the data directory dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// ErrNoAuthRole refuses an operation on the cluster's records in a
// keyway process that does not run the auth role.
var ErrNoAuthRole = errors.New("this keyway process has no auth role")

// Source is what the admin API serves: the running process's plugins,
// its CA and, with the auth role, the cluster's records. A Source may
// also be an AuditSource, a ProcessSource and an AccessChecker.
type Source interface {
	Plugins(ctx context.Context) []Plugin
	CASource
	AuthSource
}

// Plugin is one row of the plugin listing.
type Plugin struct {
	supervisor.Status
	Sessions        *uint64 `json:"sessions_total,omitempty"`
	SessionsActive  *uint64 `json:"sessions_active,omitempty"`
	BytesFromClient *uint64 `json:"bytes_from_client,omitempty"`
	BytesToClient   *uint64 `json:"bytes_to_client,omitempty"`
}

// CASource gives the admin API the running CA plugin.
type CASource interface {
	CA(ctx context.Context) (authority.CA, error)
}

// AuthSource gives the admin API the auth role's records; Auth returns
// nil in processes without the auth role.
type AuthSource interface {
	Auth() *auth.Service
	HostPin(ctx context.Context) (string, error)
}

// AuditSource gives the admin API the audit log; AuditSearcher returns
// nil in a process that keeps none.
type AuditSource interface {
	AuditSearcher() audit.Searcher
}

// ProcessSource is implemented by sources that report on their process.
type ProcessSource interface {
	Process(ctx context.Context) Process
}

// Process is what a running keyway reports of itself as a process.
type Process struct {
	// OpenFilesSoft and OpenFilesHard are its RLIMIT_NOFILE; zero where
	// the system has none.
	OpenFilesSoft uint64 `json:"open_files_soft"`
	OpenFilesHard uint64 `json:"open_files_hard"`
	// OpenFiles is how many descriptors it holds; -1 when unknown.
	OpenFiles int `json:"open_files"`
	// Proxies are the cluster's proxies as the auth role knows them;
	// none in a process without it.
	Proxies []ProxyStatus `json:"proxies,omitempty"`
}

// ProxyStatus is one of the cluster's proxies and its health.
type ProxyStatus struct {
	Addr    string `json:"addr"`
	HostID  string `json:"host_id"`
	Version string `json:"version,omitempty"`
	// Problem is why the proxy cannot take new sessions, as it last
	// reported; empty while it can.
	Problem string `json:"problem,omitempty"`
	// Remote marks a proxy without the auth role.
	Remote bool `json:"remote,omitempty"`
}

// AccessChecker answers keyway access check.
type AccessChecker interface {
	CheckAccess(ctx context.Context, req CheckRequest) (sdk.Authorization, error)
}

// CheckRequest asks what the cluster would decide for a user.
type CheckRequest struct {
	User     string `json:"user"`
	Database string `json:"database"`
	DBUser   string `json:"db_user"`
	DBName   string `json:"db_name"`
}
