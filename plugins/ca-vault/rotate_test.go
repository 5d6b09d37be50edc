package cavault

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// The rotation tests run against the backends that generate their keys.

func TestRotateKeepsOldCATrustedDuringGrace(t *testing.T) {
	forEachBackend(t, keyringBackends, "", testRotateKeepsOldCATrustedDuringGrace)
}

func testRotateKeepsOldCATrustedDuringGrace(t *testing.T, e *backendEnv) {
	clock, v := e.clock, e.v
	ctx := context.Background()
	before := authorityStates(t, v)
	oldCA := before[sdk.AuthorityUser].Certificates[0]
	oldLeaf := sign(t, v, signRequest(t, sdk.AuthorityUser, clock.now()))

	const grace = time.Hour
	st, err := v.Rotate(ctx, sdk.AuthorityUser, grace)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	wantGraceEnds := clock.now().Add(grace)
	checkRotating := func(t *testing.T, st sdk.AuthorityState) {
		t.Helper()
		if st.Phase != "rotating" || len(st.Certificates) != 2 || !st.GraceEnds.Equal(wantGraceEnds) {
			t.Fatalf("state: phase %q, %d certs, grace ends %v; want rotating, 2, %v", st.Phase, len(st.Certificates), st.GraceEnds, wantGraceEnds)
		}
		if bytes.Equal(st.Certificates[0], oldCA) || !bytes.Equal(st.Certificates[1], oldCA) {
			t.Fatal("the new CA certificate is not first and the old one second")
		}
	}
	checkRotating(t, st)
	checkRotating(t, authorityStates(t, v)[sdk.AuthorityUser])
	newCA := parseCerts(t, st.Certificates[:1])[0]

	// Only the rotated authority changed.
	during := authorityStates(t, v)
	for _, a := range []sdk.Authority{sdk.AuthorityHost, sdk.AuthorityDB, sdk.AuthorityDBClient} {
		if during[a].Phase != "active" || !bytes.Equal(during[a].Certificates[0], before[a].Certificates[0]) {
			t.Errorf("rotating user changed the %s authority", a)
		}
	}

	clock.advance(grace / 2)
	pool := poolOf(t, authorityStates(t, v)[sdk.AuthorityUser])
	if err := verifies(oldLeaf, pool, clock.now(), x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("a leaf signed before the rotation does not verify during grace: %v", err)
	}
	newLeaf := sign(t, v, signRequest(t, sdk.AuthorityUser, clock.now()))
	if err := newLeaf.CheckSignatureFrom(newCA); err != nil {
		t.Errorf("a leaf signed after the rotation is not signed by the new CA: %v", err)
	}
	if err := verifies(newLeaf, pool, clock.now(), x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("a new leaf does not verify: %v", err)
	}

	// A restart during grace keeps both.
	checkRotating(t, authorityStates(t, e.restart(t))[sdk.AuthorityUser])
	if certs, keys := e.storedKeys(t, sdk.AuthorityUser); certs != 2 || keys != 2 {
		t.Errorf("during grace the user authority has %d certificates and %d keys stored, want 2 and 2", certs, keys)
	}

	clock.advance(grace/2 + time.Second)
	after := authorityStates(t, v)[sdk.AuthorityUser]
	if after.Phase != "active" || len(after.Certificates) != 1 || !bytes.Equal(after.Certificates[0], newCA.Raw) || !after.GraceEnds.IsZero() {
		t.Fatalf("after grace: phase %q, %d certs; want only the new CA, active", after.Phase, len(after.Certificates))
	}
	if err := verifies(oldLeaf, poolOf(t, after), clock.now(), x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("a leaf of the retired CA still verifies after grace")
	}
	if err := verifies(newLeaf, poolOf(t, after), clock.now(), x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("a new leaf does not verify after grace: %v", err)
	}

	// The drop is persisted: a restart does not bring the old CA back,
	// and its certificate and key are gone.
	restarted := authorityStates(t, e.restart(t))[sdk.AuthorityUser]
	if len(restarted.Certificates) != 1 || !bytes.Equal(restarted.Certificates[0], newCA.Raw) {
		t.Fatal("after a restart the retired CA is back")
	}
	if certs, keys := e.storedKeys(t, sdk.AuthorityUser); certs != 1 || keys != 1 {
		t.Errorf("after grace the user authority has %d certificates and %d keys stored, want 1 and 1", certs, keys)
	}
}

func TestRotateWithoutGraceDropsOldAtOnce(t *testing.T) {
	forEachBackend(t, keyringBackends, "", func(t *testing.T, e *backendEnv) {
		old := authorityStates(t, e.v)[sdk.AuthorityDB].Certificates[0]
		st, err := e.v.Rotate(context.Background(), sdk.AuthorityDB, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != "active" || len(st.Certificates) != 1 || bytes.Equal(st.Certificates[0], old) {
			t.Fatalf("state after rotating without grace: phase %q, %d certs", st.Phase, len(st.Certificates))
		}
		if certs, keys := e.storedKeys(t, sdk.AuthorityDB); certs != 1 || keys != 1 {
			t.Errorf("%d certificates and %d keys stored, want 1 and 1", certs, keys)
		}
		leaf := sign(t, e.v, signRequest(t, sdk.AuthorityDB, e.clock.now()))
		if err := verifies(leaf, poolOf(t, st), e.clock.now(), x509.ExtKeyUsageClientAuth); err != nil {
			t.Errorf("a leaf of the new key does not verify: %v", err)
		}
	})
}

func TestRotateTwiceDuringGrace(t *testing.T) {
	forEachBackend(t, keyringBackends, "", testRotateTwiceDuringGrace)
}

func testRotateTwiceDuringGrace(t *testing.T, e *backendEnv) {
	clock, v := e.clock, e.v
	ctx := context.Background()
	if _, err := v.Rotate(ctx, sdk.AuthorityHost, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Hour)
	st, err := v.Rotate(ctx, sdk.AuthorityHost, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Certificates) != 3 || !st.GraceEnds.Equal(clock.now().Add(time.Hour)) {
		t.Fatalf("%d certs, grace ends %v; want 3 and the later of both grace ends", len(st.Certificates), st.GraceEnds)
	}
	clock.advance(45 * time.Minute)
	if n := len(authorityStates(t, v)[sdk.AuthorityHost].Certificates); n != 2 {
		t.Fatalf("%d certs after the second grace ended, want 2", n)
	}
	clock.advance(time.Hour)
	if n := len(authorityStates(t, v)[sdk.AuthorityHost].Certificates); n != 1 {
		t.Fatalf("%d certs after both grace periods ended, want 1", n)
	}
}

func TestRotateErrors(t *testing.T) {
	v := configure(t, nil, t.TempDir(), managedConfig)
	tests := []struct {
		name      string
		authority sdk.Authority
		grace     time.Duration
		wantMsg   string
	}{
		{"unknown authority", sdk.Authority(42), time.Hour, "unknown authority 42"},
		{"negative grace", sdk.AuthorityUser, -time.Second, "negative grace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Rotate(context.Background(), tt.authority, tt.grace)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Rotate error %v, want one containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestOrphansRemovedOnStart(t *testing.T) {
	dir := t.TempDir()
	configure(t, nil, dir, managedConfig)
	orphan := filepath.Join(dir, managedDir, "user-0000000000000000.key")
	if err := os.WriteFile(orphan, []byte("left over"), 0o600); err != nil {
		t.Fatal(err)
	}
	configure(t, nil, dir, managedConfig)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan key file survived a start: %v", err)
	}
}

func TestConcurrentSignAndRotate(t *testing.T) {
	forEachBackend(t, keyringBackends, "", testConcurrentSignAndRotate)
}

func testConcurrentSignAndRotate(t *testing.T, e *backendEnv) {
	clock, v := e.clock, e.v
	ctx := context.Background()
	reqs := make([]sdk.SignRequest, 8)
	for i := range reqs {
		reqs[i] = signRequest(t, sdk.AuthorityUser, clock.now())
	}
	errs := make(chan error, len(reqs)+4)
	for _, req := range reqs {
		go func() {
			_, err := v.Sign(ctx, req)
			errs <- err
		}()
	}
	for range 4 {
		go func() {
			_, err := v.Rotate(ctx, sdk.AuthorityUser, time.Minute)
			if err == nil {
				_, err = v.Authorities(ctx)
			}
			errs <- err
		}()
	}
	for range len(reqs) + 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := len(authorityStates(t, v)[sdk.AuthorityUser].Certificates); n != 5 {
		t.Fatalf("%d user CA certificates after 4 rotations within grace, want 5", n)
	}
}
