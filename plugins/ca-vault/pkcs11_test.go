package cavault

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/keyway-dev/keyway/sdk"
)

// tokenKey finds the plugin's key pair labelled label through the
// test's own session.
func tokenKey(t *testing.T, token *crypto11.Context, label string) crypto11.Signer {
	t.Helper()
	pairs, err := token.FindKeyPairs(nil, []byte(label))
	if err != nil || len(pairs) != 1 {
		t.Fatalf("finding token key %q: %d found, %v", label, len(pairs), err)
	}
	return pairs[0]
}

func TestPKCS11KeysStayInToken(t *testing.T) {
	e := pkcs11Setup.start(t, "")
	token := e.hsm.open(t)
	states := authorityStates(t, e.v)
	for _, a := range authorities() {
		label := tokenKeyLabel("example", a)
		key := tokenKey(t, token, label)
		ca := parseCerts(t, states[a].Certificates)[0]
		if !publicKeysEqual(key.Public(), ca.PublicKey) {
			t.Errorf("%s: the CA certificate does not certify token key %q", a, label)
		}
		attrs, err := token.GetAttributes(key, []crypto11.AttributeType{
			crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaPrivate,
			crypto11.CkaAlwaysSensitive, crypto11.CkaNeverExtractable, crypto11.CkaToken,
		})
		if err != nil {
			t.Fatal(err)
		}
		for attr, want := range map[crypto11.AttributeType]bool{
			crypto11.CkaSensitive: true, crypto11.CkaExtractable: false, crypto11.CkaPrivate: true,
			crypto11.CkaAlwaysSensitive: true, crypto11.CkaNeverExtractable: true, crypto11.CkaToken: true,
		} {
			if got := attrTrue(attrs[attr]); got != want {
				t.Errorf("%s: attribute %#x of the private key is %v, want %v", a, attr, got, want)
			}
		}
		// Reading the private value out fails: the token refuses.
		_, err = token.GetAttribute(key, crypto11.CkaValue)
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Errorf("%s: reading CKA_VALUE of the private key: %v, want CKR_ATTRIBUTE_SENSITIVE", a, err)
		}
	}
	// No private key reaches the disk: the state directory holds the
	// index and certificates only.
	entries, err := os.ReadDir(filepath.Join(e.dataDir, pkcs11Dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		if de.Name() != indexFile && !strings.HasSuffix(de.Name(), certSuffix) {
			t.Errorf("unexpected file %s in the pkcs11 state directory", de.Name())
		}
		data, _ := os.ReadFile(filepath.Join(e.dataDir, pkcs11Dir, de.Name()))
		if bytes.Contains(data, []byte("PRIVATE KEY")) {
			t.Errorf("%s holds a private key", de.Name())
		}
	}
	if len(entries) != 1+4 {
		t.Errorf("%d files in the pkcs11 state directory, want the index and 4 certificates", len(entries))
	}
}

func TestPKCS11RotationLabelsAndDestroysKeys(t *testing.T) {
	e := pkcs11Setup.start(t, "")
	token := e.hsm.open(t)
	base := tokenKeyLabel("example", sdk.AuthorityUser)
	oldKey := tokenKey(t, token, base)
	if _, err := e.v.Rotate(context.Background(), sdk.RotateRequest{Authority: sdk.AuthorityUser, Phase: sdk.PhaseInit, Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	labels := tokenKeysOf(t, token, sdk.AuthorityUser)
	if len(labels) != 2 {
		t.Fatalf("user key pairs in the token after a rotation: %v, want 2", labels)
	}
	var newLabel string
	for _, l := range labels {
		if l != base {
			newLabel = l
		}
	}
	newKey := tokenKey(t, token, newLabel)
	id, err := tokenKeyID(token, newKey)
	if err != nil {
		t.Fatal(err)
	}
	if newLabel != base+"-"+hex.EncodeToString(id) {
		t.Errorf("rotated key label %q, want %q followed by its CKA_ID %x", newLabel, base+"-", id)
	}
	st := authorityStates(t, e.v)[sdk.AuthorityUser]
	if ca := parseCerts(t, st.Certificates)[0]; !publicKeysEqual(ca.PublicKey, newKey.Public()) {
		t.Error("the active CA certificate does not certify the new token key")
	}
	if err := checkKeyStaysInToken(token, newKey, newLabel); err != nil {
		t.Errorf("rotated key: %v", err)
	}

	for _, phase := range []string{sdk.PhaseUpdateClients, sdk.PhaseUpdateServers, sdk.PhaseStandby} {
		if _, err := e.v.Rotate(context.Background(), sdk.RotateRequest{Authority: sdk.AuthorityUser, Phase: phase}); err != nil {
			t.Fatal(err)
		}
	}
	if labels := tokenKeysOf(t, token, sdk.AuthorityUser); len(labels) != 1 || labels[0] != newLabel {
		t.Fatalf("user key pairs in the token after standby: %v, want only %q", labels, newLabel)
	}
	if _, err := token.GetAttribute(oldKey, crypto11.CkaSign); err == nil {
		t.Error("the retired key pair still exists in the token")
	}
}

func TestPKCS11UsesProvisionedKey(t *testing.T) {
	hsm := newSoftHSM(t)
	token := hsm.open(t)
	label := tokenKeyLabel("example", sdk.AuthorityHost)
	provisioned, err := generateTokenKey(token, algECDSAP256, []byte{0x01}, []byte(label))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, hsm.config(""), hsm)
	ca := parseCerts(t, authorityStates(t, e.v)[sdk.AuthorityHost].Certificates)[0]
	if !publicKeysEqual(ca.PublicKey, provisioned.Public()) {
		t.Fatal("the host CA does not use the key provisioned in the token under its label")
	}
	if n := len(tokenKeysOf(t, token, sdk.AuthorityHost)); n != 1 {
		t.Errorf("%d host key pairs in the token, want the provisioned one only", n)
	}
}

func TestPKCS11RefusesExtractableKey(t *testing.T) {
	hsm := newSoftHSM(t)
	token := hsm.open(t)
	label := tokenKeyLabel("example", sdk.AuthorityDB)
	public, _ := crypto11.NewAttributeSetWithIDAndLabel([]byte{0x02}, []byte(label))
	private := public.Copy()
	if err := private.Set(crypto11.CkaExtractable, true); err != nil {
		t.Fatal(err)
	}
	if _, err := token.GenerateECDSAKeyPairWithAttributes(public, private, elliptic.P256()); err != nil {
		t.Fatal(err)
	}
	v, err := tryConfigure(nil, t.TempDir(), hsm.config(""))
	if err == nil {
		_ = v.close()
		t.Fatal("Configure accepted an extractable CA key")
	}
	if !strings.Contains(err.Error(), `token key "keyway-example-db" is extractable`) {
		t.Fatalf("Configure error %v, want one refusing the extractable key", err)
	}
}

func TestPKCS11StateOfAnotherToken(t *testing.T) {
	e := pkcs11Setup.start(t, "")
	if err := e.v.close(); err != nil {
		t.Fatal(err)
	}
	e.hsm.addToken(t, "other", e.hsm.pin)
	cfg := e.hsm.config("")
	cfg["pkcs11"].(map[string]any)["token_label"] = "other"
	v, err := tryConfigure(e.clock, e.dataDir, cfg)
	if err == nil {
		_ = v.close()
		t.Fatal("Configure on a token without the authorities' keys succeeded")
	}
	if !strings.Contains(err.Error(), `token "other" has no key pair labelled "keyway-example-user"`) {
		t.Fatalf("Configure error %v, want one naming the missing key", err)
	}
}

func TestPKCS11LostStateRecertifiesTokenKeys(t *testing.T) {
	e := pkcs11Setup.start(t, "")
	before := authorityStates(t, e.v)
	leaf := sign(t, e.v, signRequest(t, sdk.AuthorityUser, e.clock.now()))
	if err := e.v.close(); err != nil {
		t.Fatal(err)
	}
	removeAll(t, filepath.Join(e.dataDir, pkcs11Dir))

	after := authorityStates(t, e.restart(t))
	for _, a := range authorities() {
		old, renewed := parseCerts(t, before[a].Certificates)[0], parseCerts(t, after[a].Certificates)[0]
		if !publicKeysEqual(old.PublicKey, renewed.PublicKey) {
			t.Errorf("%s: the token's key was not reused", a)
		}
	}
	// The new certificate names the same key and subject: what the old
	// one signed verifies against it.
	if err := verifies(leaf, poolOf(t, after[sdk.AuthorityUser]), e.clock.now(), x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("a leaf signed before the state was lost does not verify: %v", err)
	}
}

func TestPKCS11HealthFailsWithoutToken(t *testing.T) {
	t.Run("session closed", func(t *testing.T) {
		e := pkcs11Setup.start(t, "")
		ctx := context.Background()
		if err := e.v.Health(ctx); err != nil {
			t.Fatalf("Health of a working token: %v", err)
		}
		if err := e.v.backend.(*keyring).store.close(); err != nil {
			t.Fatal(err)
		}
		err := e.v.Health(ctx)
		if err == nil || !strings.Contains(err.Error(), `PKCS#11 token "keyway-test" does not answer`) {
			t.Fatalf("Health with the token session closed: %v", err)
		}
		if _, err := e.v.Sign(ctx, signRequest(t, sdk.AuthorityUser, e.clock.now())); err == nil {
			t.Fatal("Sign succeeded with the token session closed")
		}
	})
	t.Run("active key destroyed", func(t *testing.T) {
		e := pkcs11Setup.start(t, "")
		token := e.hsm.open(t)
		if err := tokenKey(t, token, tokenKeyLabel("example", sdk.AuthorityDBClient)).Delete(); err != nil {
			t.Fatal(err)
		}
		err := e.v.Health(context.Background())
		if err == nil || !strings.Contains(err.Error(), `key "keyway-example-db-client"`) {
			t.Fatalf("Health with a destroyed key: %v", err)
		}
	})
}

func TestPKCS11BadInput(t *testing.T) {
	const wrongPIN = "wrong-pin-5530"
	tests := []struct {
		name string
		// edit breaks the pkcs11 block or the files it names.
		edit     func(t *testing.T, h *softHSM, block map[string]any)
		wantPath string
		wantMsg  []string
	}{
		{"module missing", func(t *testing.T, h *softHSM, b map[string]any) {
			b["module"] = "/nonexistent/libnope.so"
		}, "pkcs11.module", []string{"PKCS#11 module /nonexistent/libnope.so does not exist"}},
		{"module not a library", func(t *testing.T, h *softHSM, b map[string]any) {
			b["module"] = h.writePINFile(t, "libfake.so", "not a shared object\n", 0o644)
		}, "pkcs11.module", []string{"cannot load PKCS#11 module", "libfake.so"}},
		{"module a directory", func(t *testing.T, h *softHSM, b map[string]any) {
			b["module"] = h.dir
		}, "pkcs11.module", []string{"is not a file"}},
		{"token label not found", func(t *testing.T, h *softHSM, b map[string]any) {
			b["token_label"] = "no-such-token"
		}, "pkcs11.token_label", []string{`no token labelled "no-such-token"`, softHSMModule}},
		{"wrong PIN", func(t *testing.T, h *softHSM, b map[string]any) {
			b["pin_file"] = h.writePINFile(t, "wrong", wrongPIN+"\n", 0o600)
		}, "pkcs11.pin_file", []string{`token "keyway-test" refused the PIN`, "wrong PIN", "CKR_PIN_INCORRECT"}},
		{"pin file missing", func(t *testing.T, h *softHSM, b map[string]any) {
			b["pin_file"] = filepath.Join(h.dir, "nope")
		}, "pkcs11.pin_file", []string{"cannot read pin_file", "nope", "no such file"}},
		{"pin file a directory", func(t *testing.T, h *softHSM, b map[string]any) {
			b["pin_file"] = h.dir
		}, "pkcs11.pin_file", []string{"is not a regular file"}},
		{"pin file readable by others", func(t *testing.T, h *softHSM, b map[string]any) {
			b["pin_file"] = h.writePINFile(t, "open", h.pin+"\n", 0o644)
		}, "pkcs11.pin_file", []string{"pin_file", "has mode 0644", "lets group or others in", "chmod 0600"}},
		{"pin file readable by group", func(t *testing.T, h *softHSM, b map[string]any) {
			b["pin_file"] = h.writePINFile(t, "group", h.pin+"\n", 0o640)
		}, "pkcs11.pin_file", []string{"has mode 0640", "lets group or others in"}},
		{"pin file empty", func(t *testing.T, h *softHSM, b map[string]any) {
			b["pin_file"] = h.writePINFile(t, "empty", "\n", 0o600)
		}, "pkcs11.pin_file", []string{"is empty"}},
		{"pin file of two lines", func(t *testing.T, h *softHSM, b map[string]any) {
			b["pin_file"] = h.writePINFile(t, "two", h.pin+"\n"+h.pin+"\n", 0o600)
		}, "pkcs11.pin_file", []string{"more than one line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSoftHSM(t)
			cfg := h.config("")
			tt.edit(t, h, cfg["pkcs11"].(map[string]any))
			v, err := tryConfigure(nil, t.TempDir(), cfg)
			if err == nil {
				_ = v.close()
				t.Fatal("Configure succeeded")
			}
			diags := diagnosticsOf(t, err)
			var d *sdk.Diagnostic
			for i := range diags {
				if diags[i].Path == tt.wantPath {
					d = &diags[i]
					break
				}
			}
			if d == nil {
				t.Fatalf("no diagnostic for %q in %v", tt.wantPath, diags)
			}
			text := d.Summary + " " + d.Detail
			for _, m := range tt.wantMsg {
				if !strings.Contains(text, m) {
					t.Errorf("diagnostic %q lacks %q", text, m)
				}
			}
			for _, secret := range []string{h.pin, wrongPIN} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error reveals a PIN: %v", err)
				}
			}
			t.Log(diags)
		})
	}
}
