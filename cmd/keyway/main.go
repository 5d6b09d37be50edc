// Command keyway is the identity-aware access proxy for databases: the
// core, its CLI, and the built-in plugins, all in one binary.
package main

import (
	"os"

	"github.com/keyway-dev/keyway/core/gctarget"
)

// version is set by the linker (see the Makefile).
var version = "dev"

func main() {
	gctarget.Apply(os.Getenv)
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
