//go:build !unix

package server

import (
	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/admin"
)

// raiseFileLimit does nothing where there is no RLIMIT_NOFILE.
func raiseFileLimit(hclog.Logger) {}

// processInfo reports that the limits are unknown.
func processInfo() admin.Process { return admin.Process{OpenFiles: -1} }
