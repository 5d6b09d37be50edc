// Package gctarget sets the garbage collector's target for keyway's
// processes. A proxy holds its sessions mostly as small, long-lived
// objects (TLS state, relay state, peer certificates); with Go's default
// target the heap grows to twice that before a collection, and each idle
// session's memory with it. A lower target trades a little CPU, spent
// collecting a heap that changes slowly, for about a quarter less memory
// per idle session. An operator's GOGC always wins.
package gctarget

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// Percent is the collector's target (GOGC) keyway's processes run with
// when GOGC is not set: a collection starts when the heap has grown by
// half over what the last one kept.
const Percent = 50

// Env is the variable the Go runtime reads the target from.
const Env = "GOGC"

// Apply sets this process's target to Percent unless getenv finds GOGC
// set, and reports whether it did.
func Apply(getenv func(string) string) bool {
	if getenv(Env) != "" {
		return false
	}
	debug.SetGCPercent(Percent)
	return true
}

// Environ returns env, the environment of a child process, with GOGC set
// to Percent unless env sets it already.
func Environ(env []string) []string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, Env+"="); ok && v != "" {
			return env
		}
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, Env+"=") {
			out = append(out, kv)
		}
	}
	return append(out, Env+"="+strconv.Itoa(Percent))
}
