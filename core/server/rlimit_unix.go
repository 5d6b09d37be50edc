//go:build unix

package server

import (
	"os"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/admin"
)

// raiseFileLimit sets the soft limit on open files to the hard limit.
// Each client connection takes a descriptor, so the soft limit (often
// 1024) is what a flood exhausts first. Setting it here, rather than
// relying on the Go runtime doing so for this process alone, lets the
// plugins started afterwards, which hold sessions too, inherit it.
func raiseFileLimit(log hclog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Debug("cannot read the open file limit", "error", err)
		return
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Debug("cannot raise the open file limit", "soft", lim.Cur, "hard", lim.Max, "error", err)
		return
	}
	log.Debug("open file limit raised to the hard limit", "soft", lim.Cur, "hard", lim.Max)
}

// processInfo reports the process's open file limits and descriptors.
func processInfo() admin.Process {
	p := admin.Process{OpenFiles: -1}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		p.OpenFilesSoft, p.OpenFilesHard = lim.Cur, lim.Max
	}
	// Linux lists the descriptors here; elsewhere the count stays unknown.
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		p.OpenFiles = len(fds) - 1 // less the one reading the directory
	}
	return p
}
