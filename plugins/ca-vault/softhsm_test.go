package cavault

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ThalesGroup/crypto11"
)

// softHSMModule is where Debian's softhsm2 package puts the module.
const softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// softHSM is a SoftHSM2 token made for one test.
type softHSM struct {
	dir     string
	module  string
	label   string
	pin     string
	pinFile string
}

// newSoftHSM creates a SoftHSM2 token in a new directory, points
// SOFTHSM2_CONF at it for the rest of the test and writes its PIN to a
// 0600 pin file. It skips the test when SoftHSM2 is not installed.
func newSoftHSM(t *testing.T) *softHSM {
	t.Helper()
	if _, err := os.Stat(softHSMModule); err != nil {
		t.Skipf("SoftHSM2 is not installed (%v); apt-get install softhsm2 to run the pkcs11 backend's tests", err)
	}
	h := &softHSM{dir: t.TempDir(), module: softHSMModule, label: "keyway-test", pin: "test-user-pin-4821"}
	tokens := filepath.Join(h.dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(h.dir, "softhsm2.conf")
	confText := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		t.Fatal(err)
	}
	// SoftHSM reads it when the module is initialised: every context
	// of the previous test must be closed by now, as configure ensures.
	t.Setenv("SOFTHSM2_CONF", conf)
	h.addToken(t, h.label, h.pin)
	h.pinFile = h.writePINFile(t, "pin", h.pin+"\n", 0o600)
	return h
}

// addToken initialises a token labelled label in the next free slot.
// The PIN is in argv here, in a test only.
func (h *softHSM) addToken(t *testing.T, label, pin string) {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Fatalf("%s is installed but softhsm2-util is not: %v", softHSMModule, err)
	}
	out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "test-so-pin-9917").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
}

// writePINFile writes content to a new file named name with mode perm.
func (h *softHSM) writePINFile(t *testing.T, name, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(h.dir, name)
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // umask may have cut it
		t.Fatal(err)
	}
	return path
}

// config is a pkcs11 backend configuration for the token; algorithm ""
// leaves the default.
func (h *softHSM) config(algorithm string) map[string]any {
	p := map[string]any{"module": h.module, "token_label": h.label, "pin_file": h.pinFile}
	if algorithm != "" {
		p["key_algorithm"] = algorithm
	}
	return map[string]any{"backend": "pkcs11", "pkcs11": p}
}

// open logs into the token on the test's own behalf, to look at what
// the plugin left in it.
func (h *softHSM) open(t *testing.T) *crypto11.Context {
	t.Helper()
	ctx, err := crypto11.Configure(&crypto11.Config{Path: h.module, TokenLabel: h.label, Pin: h.pin})
	if err != nil {
		t.Fatalf("opening the test token: %v", err)
	}
	t.Cleanup(func() { _ = ctx.Close() })
	return ctx
}
