package cavault

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// The tests of the backends that generate their authorities' keys: the
// managed backend and the pkcs11 backend.

func TestKeyringCreatesFourSeparateAuthorities(t *testing.T) {
	forEachBackend(t, keyringBackends, "", func(t *testing.T, e *backendEnv) {
		if err := e.v.Health(context.Background()); err != nil {
			t.Fatalf("Health: %v", err)
		}
		states := authorityStates(t, e.v)
		seenKeys := map[string]sdk.Authority{}
		for _, a := range authorities() {
			st := states[a]
			if st.Phase != sdk.PhaseStandby || len(st.Certificates) != 1 || !st.GraceEnds.IsZero() {
				t.Fatalf("%s: phase %q, %d certs, grace ends %v; want one active cert", a, st.Phase, len(st.Certificates), st.GraceEnds)
			}
			ca := parseCerts(t, st.Certificates)[0]
			if want := "keyway example " + a.String() + " CA"; ca.Subject.CommonName != want {
				t.Errorf("%s: CN %q, want %q", a, ca.Subject.CommonName, want)
			}
			if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 || ca.MaxPathLen != 1 {
				t.Errorf("%s: not a CA certificate for leaves and one cross-certificate", a)
			}
			if err := ca.CheckSignatureFrom(ca); err != nil {
				t.Errorf("%s: not self-signed: %v", a, err)
			}
			if got := ca.NotAfter.Sub(e.clock.now()); got < 9*365*24*time.Hour || got > 11*365*24*time.Hour {
				t.Errorf("%s: valid for %s, want about 10 years", a, got)
			}
			spki, err := x509.MarshalPKIXPublicKey(ca.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if other, dup := seenKeys[string(spki)]; dup {
				t.Errorf("%s and %s share a key", a, other)
			}
			seenKeys[string(spki)] = a
			if certs, keys := e.storedKeys(t, a); certs != 1 || keys != 1 {
				t.Errorf("%s: %d certificates and %d keys stored, want 1 and 1", a, certs, keys)
			}
		}
	})
}

func TestKeyringRestartKeepsAuthorities(t *testing.T) {
	forEachBackend(t, keyringBackends, "", func(t *testing.T, e *backendEnv) {
		before := authorityStates(t, e.v)
		leaf := sign(t, e.v, signRequest(t, sdk.AuthorityUser, e.clock.now()))
		// A restart: the first instance lets go of its state (and
		// token session) before the second starts.
		if err := e.v.close(); err != nil {
			t.Fatal(err)
		}

		second := e.restart(t)
		after := authorityStates(t, second)
		for _, a := range authorities() {
			if len(after[a].Certificates) != 1 || !bytes.Equal(before[a].Certificates[0], after[a].Certificates[0]) {
				t.Errorf("%s: the CA certificate changed across a restart", a)
			}
			if certs, keys := e.storedKeys(t, a); certs != 1 || keys != 1 {
				t.Errorf("%s: %d certificates and %d keys stored after a restart, want 1 and 1", a, certs, keys)
			}
		}
		// The restarted instance signs with the same key: its leaf and
		// the first instance's verify against the same pool.
		pool := poolOf(t, before[sdk.AuthorityUser])
		leaf2 := sign(t, second, signRequest(t, sdk.AuthorityUser, e.clock.now()))
		for _, l := range []*x509.Certificate{leaf, leaf2} {
			if err := verifies(l, pool, e.clock.now(), x509.ExtKeyUsageClientAuth); err != nil {
				t.Errorf("leaf does not verify after restart: %v", err)
			}
		}
	})
}

func TestKeyringRSA(t *testing.T) {
	forEachBackend(t, keyringBackends, "rsa-2048", func(t *testing.T, e *backendEnv) {
		ca := parseCerts(t, authorityStates(t, e.v)[sdk.AuthorityDB].Certificates)[0]
		if k, ok := ca.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
			t.Fatalf("db CA key is %T, want a 2048-bit RSA key", ca.PublicKey)
		}
		req := signRequest(t, sdk.AuthorityDB, e.clock.now())
		req.CSR = makeCSR(t, rsaKey(t, 2048))
		req.Usages = []string{"server"}
		req.DNSNames = []string{"db.example.com"}
		leaf := sign(t, e.v, req)
		if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
			t.Errorf("RSA leaf key usage %b, want digitalSignature|keyEncipherment", leaf.KeyUsage)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "db.example.com", CurrentTime: e.clock.now()}); err != nil {
			t.Fatalf("RSA leaf does not verify: %v", err)
		}
	})
}
