package sdk

import (
	"context"

	"github.com/hashicorp/go-hclog"
)

// Host is the core's service to its plugins: control-plane callbacks only,
// never one per message of a session.
type Host interface {
	// Log writes a record into the core's log under the plugin's name.
	Log(ctx context.Context, level hclog.Level, msg string, keyvals ...string) error
}
