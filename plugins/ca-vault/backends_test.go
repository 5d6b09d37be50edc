package cavault

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"

	"github.com/keyway-dev/keyway/sdk"
)

// backendEnv is a plugin configured with one backend, and what a test
// needs to start it again.
type backendEnv struct {
	clock   *fakeClock
	dataDir string
	cfg     map[string]any
	v       *vault
	// hsm is the pkcs11 backend's token; nil for the other backends.
	hsm *softHSM
}

// backendSetup starts a backend for a test; algorithm "" is the default
// key algorithm, and backends that generate no keys ignore it.
type backendSetup struct {
	name  string
	start func(t *testing.T, algorithm string) *backendEnv
}

var (
	managedSetup = backendSetup{"managed", func(t *testing.T, algorithm string) *backendEnv {
		cfg := map[string]any{"backend": "managed"}
		if algorithm != "" {
			cfg["key_algorithm"] = algorithm
		}
		return newEnv(t, cfg, nil)
	}}
	fileBackendSetup = backendSetup{"file", func(t *testing.T, _ string) *backendEnv {
		return newEnv(t, newFileSetup(t).config(), nil)
	}}
	pkcs11Setup = backendSetup{"pkcs11", func(t *testing.T, algorithm string) *backendEnv {
		hsm := newSoftHSM(t)
		return newEnv(t, hsm.config(algorithm), hsm)
	}}

	// allBackends sign: they share the signing tests.
	allBackends = []backendSetup{managedSetup, fileBackendSetup, pkcs11Setup}
	// keyringBackends generate and rotate their keys: they share the
	// generation, restart and rotation tests.
	keyringBackends = []backendSetup{managedSetup, pkcs11Setup}
)

// newEnv configures a plugin with cfg on a new data directory.
func newEnv(t *testing.T, cfg map[string]any, hsm *softHSM) *backendEnv {
	t.Helper()
	e := &backendEnv{clock: newFakeClock(), dataDir: t.TempDir(), cfg: cfg, hsm: hsm}
	e.v = configure(t, e.clock, e.dataDir, cfg)
	return e
}

// restart configures a new plugin instance on the same state.
func (e *backendEnv) restart(t *testing.T) *vault {
	t.Helper()
	return configure(t, e.clock, e.dataDir, e.cfg)
}

// forEachBackend runs test as a subtest for each backend in setups.
func forEachBackend(t *testing.T, setups []backendSetup, algorithm string, test func(t *testing.T, e *backendEnv)) {
	t.Helper()
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			test(t, s.start(t, algorithm))
		})
	}
}

// stateDirOf is the directory where a keyring backend keeps its state.
func (e *backendEnv) stateDirOf() string {
	if e.hsm != nil {
		return filepath.Join(e.dataDir, pkcs11Dir)
	}
	return filepath.Join(e.dataDir, managedDir)
}

// storedKeys counts what a keyring backend persists for a: certificate
// files, and private keys (sealed files or token key pairs).
func (e *backendEnv) storedKeys(t *testing.T, a sdk.Authority) (certs, keys int) {
	t.Helper()
	certs = len(stateFiles(e.stateDirOf(), a, certSuffix))
	if e.hsm == nil {
		return certs, len(stateFiles(e.stateDirOf(), a, keySuffix))
	}
	return certs, len(tokenKeysOf(t, e.hsm.open(t), a))
}

// stateFiles returns a's files TYPE-ID.SUFFIX in dir.
func stateFiles(dir string, a sdk.Authority, suffix string) []string {
	all, _ := filepath.Glob(filepath.Join(dir, a.String()+"-*"+suffix))
	var out []string
	for _, f := range all {
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), a.String()+"-"), suffix)
		if isKeyID(id) {
			out = append(out, f)
		}
	}
	return out
}

// tokenKeysOf returns the labels of the token's key pairs of
// authority a of the cluster "example".
func tokenKeysOf(t *testing.T, token *crypto11.Context, a sdk.Authority) []string {
	t.Helper()
	pairs, err := token.FindAllKeyPairs()
	if err != nil {
		t.Fatal(err)
	}
	base := tokenKeyLabel("example", a)
	var labels []string
	for _, p := range pairs {
		attr, err := token.GetAttribute(p, crypto11.CkaLabel)
		if err != nil {
			t.Fatal(err)
		}
		l := string(attr.Value)
		if rest, rotated := strings.CutPrefix(l, base+"-"); l == base || rotated && isKeyID(rest) {
			labels = append(labels, l)
		}
	}
	return labels
}

// isKeyID reports whether s is an id newKeyID made: the suffix of a
// rotated key's label. It tells keyway-example-db-ID from
// keyway-example-db-client.
func isKeyID(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 16 && err == nil
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}
