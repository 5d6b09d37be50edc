package sdk

import (
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// watchParent makes the plugin die with its host: the kernel sends SIGKILL
// when the parent exits (PR_SET_PDEATHSIG), and a watcher exits the process
// if it was re-parented anyway, for hosts that exit before prctl runs.
func watchParent(logger hclog.Logger) {
	parent := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		logger.Warn("cannot ask to be killed with the host", "error", err)
	}
	go pollParent(parent, logger)
}

func pollParent(parent int, logger hclog.Logger) {
	for {
		if os.Getppid() != parent {
			logger.Error("host process went away; exiting", "host_pid", parent)
			os.Exit(2)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
