//go:build !linux

package sdk

import (
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
)

// watchParent exits the plugin once it has been re-parented, which means
// its host has gone.
func watchParent(logger hclog.Logger) {
	parent := os.Getppid()
	go func() {
		for os.Getppid() == parent {
			time.Sleep(500 * time.Millisecond)
		}
		logger.Error("host process went away; exiting", "host_pid", parent)
		os.Exit(2)
	}()
}
