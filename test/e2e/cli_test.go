package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// kw runs the keyway CLI and fails the test when it fails.
func kw(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(built.keyway, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("keyway %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// kwFails runs the keyway CLI, expects it to fail and returns its output.
func kwFails(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(built.keyway, args...).CombinedOutput()
	if err == nil {
		t.Fatalf("keyway %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}
