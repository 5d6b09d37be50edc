package cavault

import (
	"bytes"
	"context"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// The rotation tests run against the backends that generate their keys.

// signChain signs req and returns the leaf and the chain that came with it.
func signChain(t *testing.T, v *vault, req sdk.SignRequest) (*x509.Certificate, [][]byte) {
	t.Helper()
	resp, err := v.Sign(context.Background(), req)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return parseCerts(t, [][]byte{resp.Certificate})[0], resp.Chain
}

// verifiesWith reports whether leaf, with the chain it came with as
// intermediates, chains to the single root ca.
func verifiesWith(leaf *x509.Certificate, chain [][]byte, ca []byte, at time.Time, usage x509.ExtKeyUsage) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	root, err := x509.ParseCertificate(ca)
	if err != nil {
		return err
	}
	roots.AddCert(root)
	for _, der := range chain {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func TestPhasedRotation(t *testing.T) {
	forEachBackend(t, keyringBackends, "", testPhasedRotation)
}

// testPhasedRotation walks a rotation of the host authority and checks,
// in every phase, which key signs clients and servers, that both keys
// are trusted, that the chain handed out verifies against either key
// alone, and that the phase survives a restart.
func testPhasedRotation(t *testing.T, e *backendEnv) {
	ctx := context.Background()
	a := sdk.AuthorityHost
	before := authorityStates(t, e.v)
	oldCA := before[a].Certificates[0]
	if before[a].Phase != sdk.PhaseStandby {
		t.Fatalf("phase before any rotation: %q, want standby", before[a].Phase)
	}
	st, err := e.v.Rotate(ctx, sdk.RotateRequest{Authority: a, Phase: sdk.PhaseInit, Grace: time.Hour})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if len(st.Certificates) != 2 || !bytes.Equal(st.Certificates[1], oldCA) || !st.GraceEnds.Equal(e.clock.now().Add(time.Hour)) {
		t.Fatalf("after init: %d certificates, old second %v, grace ends %v", len(st.Certificates), bytes.Equal(st.Certificates[1], oldCA), st.GraceEnds)
	}
	newCA := st.Certificates[0]
	// The grace period passing drops nothing: only standby does.
	e.clock.advance(2 * time.Hour)
	if n := len(authorityStates(t, e.v)[a].Certificates); n != 2 {
		t.Fatalf("after the grace period of a manual rotation %d certificates are trusted, want 2 until standby", n)
	}
	serverReq := signRequest(t, a, e.clock.now())
	serverReq.Usages = []string{"server", "client"}
	clientReq := signRequest(t, a, e.clock.now())

	tests := []struct {
		phase         string
		serverSigner  []byte
		clientSigner  []byte
		trusted       int
		restartBefore bool
	}{
		{sdk.PhaseInit, oldCA, oldCA, 2, true},
		{sdk.PhaseUpdateClients, oldCA, newCA, 2, false},
		{sdk.PhaseUpdateServers, newCA, newCA, 2, true},
		{sdk.PhaseStandby, newCA, newCA, 1, false},
	}
	for _, tt := range tests {
		if tt.phase != sdk.PhaseInit {
			if _, err := e.v.Rotate(ctx, sdk.RotateRequest{Authority: a, Phase: tt.phase}); err != nil {
				t.Fatalf("%s: %v", tt.phase, err)
			}
		}
		if tt.restartBefore {
			e.v = e.restart(t)
		}
		st := authorityStates(t, e.v)[a]
		if st.Phase != tt.phase || len(st.Certificates) != tt.trusted {
			t.Fatalf("%s: state phase %q with %d certificates, want %d", tt.phase, st.Phase, len(st.Certificates), tt.trusted)
		}
		for _, c := range []struct {
			req    sdk.SignRequest
			signer []byte
			usage  x509.ExtKeyUsage
		}{{serverReq, tt.serverSigner, x509.ExtKeyUsageServerAuth}, {clientReq, tt.clientSigner, x509.ExtKeyUsageClientAuth}} {
			leaf, chain := signChain(t, e.v, c.req)
			if err := leaf.CheckSignatureFrom(parseCerts(t, [][]byte{c.signer})[0]); err != nil {
				t.Errorf("%s: %v certificate not signed by the expected key: %v", tt.phase, c.req.Usages, err)
			}
			// Either key alone accepts the chain while both are trusted.
			for _, root := range st.Certificates {
				if err := verifiesWith(leaf, chain, root, e.clock.now(), c.usage); err != nil {
					t.Errorf("%s: %v certificate does not verify against one trusted key: %v", tt.phase, c.req.Usages, err)
				}
			}
		}
	}
	if e.storedKeysCount(t, a) != 1 {
		t.Error("the old key is still stored after standby")
	}
}

// storedKeysCount counts a's keys the backend still holds.
func (e *backendEnv) storedKeysCount(t *testing.T, a sdk.Authority) int {
	t.Helper()
	certs, _ := e.storedKeys(t, a)
	return certs
}

func TestRollbackRestoresOldKey(t *testing.T) {
	forEachBackend(t, keyringBackends, "", func(t *testing.T, e *backendEnv) {
		ctx := context.Background()
		a := sdk.AuthorityDBClient
		oldCA := authorityStates(t, e.v)[a].Certificates[0]
		for _, phase := range []string{sdk.PhaseInit, sdk.PhaseUpdateClients, sdk.PhaseRollback} {
			if _, err := e.v.Rotate(ctx, sdk.RotateRequest{Authority: a, Phase: phase, Grace: time.Hour}); err != nil {
				t.Fatalf("%s: %v", phase, err)
			}
		}
		st := authorityStates(t, e.v)[a]
		if st.Phase != sdk.PhaseRollback || len(st.Certificates) != 2 || !bytes.Equal(st.Certificates[0], oldCA) {
			t.Fatalf("rollback: phase %q, %d certificates, old first %v", st.Phase, len(st.Certificates), bytes.Equal(st.Certificates[0], oldCA))
		}
		leaf, _ := signChain(t, e.v, signRequest(t, a, e.clock.now()))
		if err := leaf.CheckSignatureFrom(parseCerts(t, [][]byte{oldCA})[0]); err != nil {
			t.Errorf("during rollback a client certificate is not signed by the old key: %v", err)
		}
		if _, err := e.v.Rotate(ctx, sdk.RotateRequest{Authority: a, Phase: sdk.PhaseStandby}); err != nil {
			t.Fatal(err)
		}
		st = authorityStates(t, e.v)[a]
		if st.Phase != sdk.PhaseStandby || len(st.Certificates) != 1 || !bytes.Equal(st.Certificates[0], oldCA) {
			t.Fatalf("standby after rollback: phase %q, %d certificates, old kept %v", st.Phase, len(st.Certificates), bytes.Equal(st.Certificates[0], oldCA))
		}
	})
}

func TestRotationRefusesPhasesOutOfOrder(t *testing.T) {
	forEachBackend(t, keyringBackends, "", func(t *testing.T, e *backendEnv) {
		ctx := context.Background()
		rotate := func(phase string) error {
			_, err := e.v.Rotate(ctx, sdk.RotateRequest{Authority: sdk.AuthorityUser, Phase: phase, Grace: time.Hour})
			return err
		}
		tests := []struct {
			phase, want string
		}{
			{"update_clients", "not being rotated"},
			{"standby", "not being rotated"},
			{"rollback", "not being rotated"},
			{"sideways", "unknown rotation phase"},
			{"init", ""},
			{"init", "already in progress"},
			{"update_servers", "the next phase is update_clients"},
			{"standby", "the next phase is update_clients"},
		}
		for _, tt := range tests {
			err := rotate(tt.phase)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("%s: %v", tt.phase, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("%s: error %v, want one containing %q", tt.phase, err, tt.want)
			}
		}
		if st := authorityStates(t, e.v)[sdk.AuthorityUser]; st.Phase != sdk.PhaseInit || len(st.Certificates) != 2 {
			t.Errorf("refused phase changes changed the state: phase %q, %d certificates", st.Phase, len(st.Certificates))
		}
	})
}

func TestConcurrentSignAndRotate(t *testing.T) {
	forEachBackend(t, keyringBackends, "", func(t *testing.T, e *backendEnv) {
		ctx := context.Background()
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.v.Sign(ctx, signRequest(t, sdk.AuthorityUser, e.clock.now())); err != nil {
					t.Errorf("Sign during rotation: %v", err)
					return
				}
			}
		}()
		for _, phase := range []string{sdk.PhaseInit, sdk.PhaseUpdateClients, sdk.PhaseUpdateServers, sdk.PhaseStandby} {
			if _, err := e.v.Rotate(ctx, sdk.RotateRequest{Authority: sdk.AuthorityUser, Phase: phase, Grace: time.Minute}); err != nil {
				t.Errorf("%s: %v", phase, err)
			}
		}
		close(stop)
		wg.Wait()
	})
}
