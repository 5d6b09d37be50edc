// Package e2e runs the keyway binary as a user would: real processes,
// real sockets, real plugins, including one built outside the core from
// examples/.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bins holds the binaries built once for the whole suite.
type bins struct {
	keyway   string
	tcprelay string
	mysql    string
}

var built bins

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyway-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if built, err = buildAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildAll builds keyway from this module and the example plugins, each
// in its own module, the way a third party would.
func buildAll(dir string) (bins, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return bins{}, err
	}
	b := bins{keyway: filepath.Join(dir, "keyway"), tcprelay: filepath.Join(dir, "tcprelay"), mysql: filepath.Join(dir, "mysql")}
	steps := []struct{ dir, out, pkg string }{
		{root, b.keyway, "./cmd/keyway"},
		{filepath.Join(root, "examples", "tcprelay"), b.tcprelay, "."},
		{filepath.Join(root, "examples", "mysql"), b.mysql, "."},
	}
	for _, s := range steps {
		cmd := exec.Command("go", "build", "-o", s.out, s.pkg)
		cmd.Dir = s.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return bins{}, fmt.Errorf("building %s in %s: %v\n%s", s.pkg, s.dir, err, out)
		}
	}
	return b, nil
}
