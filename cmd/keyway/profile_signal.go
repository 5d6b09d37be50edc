//go:build profile

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

// A binary built with -tags profile (never a release) profiles its CPU
// on demand, in each of its processes: SIGUSR1 starts Go's profiler,
// SIGUSR2 writes the profile to $TMPDIR/keyway-cpu-PID.prof. It is how
// bench/README.md measures where a cell's time goes; perf on a virtual
// machine without hardware counters puts much of it in the kernel's
// context switches.
func init() {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var f *os.File
		for s := range signals {
			switch {
			case s == syscall.SIGUSR1 && f == nil:
				var err error
				f, err = os.Create(filepath.Join(os.TempDir(), fmt.Sprintf("keyway-cpu-%d.prof", os.Getpid())))
				if err == nil {
					err = pprof.StartCPUProfile(f)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "profile:", err)
					f = nil
				}
			case s == syscall.SIGUSR2 && f != nil:
				pprof.StopCPUProfile()
				_ = f.Close()
				f = nil
			}
		}
	}()
}
