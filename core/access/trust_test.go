package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// testCA is a self-signed authority that signs client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t testing.TB, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// client signs a client certificate for name valid until notAfter.
func (ca testCA) client(t testing.TB, name string, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fakeAuthorities serves the user and host authorities' certificates,
// which a test may change, and counts the fetches.
type fakeAuthorities struct {
	mu      sync.Mutex
	certs   [][]byte
	host    [][]byte
	fetches int
}

func (f *fakeAuthorities) set(certs ...*x509.Certificate) { f.replace(&f.certs, certs) }

func (f *fakeAuthorities) setHost(certs ...*x509.Certificate) { f.replace(&f.host, certs) }

// replace sets one authority's certificates.
func (f *fakeAuthorities) replace(to *[][]byte, certs []*x509.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*to = nil
	for _, c := range certs {
		*to = append(*to, c.Raw)
	}
}

func (f *fakeAuthorities) Authorities(context.Context) ([]sdk.AuthorityState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	return []sdk.AuthorityState{
		{Authority: sdk.AuthorityUser, Certificates: f.certs},
		{Authority: sdk.AuthorityHost, Certificates: f.host},
	}, nil
}

func (f *fakeAuthorities) Sign(context.Context, sdk.SignRequest) (sdk.SignResponse, error) {
	return sdk.SignResponse{}, nil
}

func (f *fakeAuthorities) Rotate(context.Context, sdk.RotateRequest) (sdk.AuthorityState, error) {
	return sdk.AuthorityState{}, nil
}

// TestVerifyClientRemembersOnlyWhatStillHolds checks that a chain
// verified once is not verified again while its authority and its
// certificates' validity hold, and is refused as soon as either ends.
func TestVerifyClientRemembersOnlyWhatStillHolds(t *testing.T) {
	ctx := context.Background()
	caA, caB := newTestCA(t, "user CA A"), newTestCA(t, "user CA B")
	expires := time.Now().Add(time.Hour)
	alice := [][]byte{caA.client(t, "alice", expires)}
	mallory := [][]byte{caB.client(t, "mallory", expires)}

	tests := []struct {
		name string
		// step changes the trust or its clock before the second check.
		step func(f *fakeAuthorities, tr *Trust, clock *time.Time)
		// same is set when the second check must return the remembered
		// leaf; wantErr when it must fail, with that phrase.
		same    bool
		wantErr string
	}{
		{"checked again", func(*fakeAuthorities, *Trust, *time.Time) {}, true, ""},
		{"authorities refreshed unchanged", func(f *fakeAuthorities, tr *Trust, _ *time.Time) {
			tr.Invalidate()
		}, true, ""},
		{"authority rotated away", func(f *fakeAuthorities, tr *Trust, _ *time.Time) {
			f.set(caB.cert)
			tr.Invalidate()
		}, false, "not issued by this cluster's user authority"},
		{"rotation adds a key", func(f *fakeAuthorities, tr *Trust, _ *time.Time) {
			f.set(caB.cert, caA.cert)
			tr.Invalidate()
		}, false, ""},
		{"certificate expired", func(_ *fakeAuthorities, _ *Trust, clock *time.Time) {
			*clock = expires.Add(time.Second)
		}, false, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAuthorities{}
			f.set(caA.cert)
			clock := time.Now()
			tr := NewTrust(f, time.Hour)
			tr.now = func() time.Time { return clock }

			first, err := tr.VerifyClient(ctx, alice)
			if err != nil {
				t.Fatalf("first check: %v", err)
			}
			if _, err := tr.VerifyClient(ctx, mallory); err == nil {
				t.Fatal("a chain from another authority was accepted")
			}
			tt.step(f, tr, &clock)
			second, err := tr.VerifyClient(ctx, alice)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("second check: err = %v, want it to say %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("second check: %v", err)
			}
			if (second == first) != tt.same {
				t.Fatalf("second check returned the remembered leaf: %v, want %v", second == first, tt.same)
			}
		})
	}
}

// TestVerifyHostRemembersWithinItsAuthority checks that a host chain is
// verified once, stays bound to the host authority (a remembered chain
// is no client's, nor a host's once the authority rotates) and that a
// user chain is no host's.
func TestVerifyHostRemembersWithinItsAuthority(t *testing.T) {
	ctx := context.Background()
	users, hosts, other := newTestCA(t, "user CA"), newTestCA(t, "host CA"), newTestCA(t, "other host CA")
	expires := time.Now().Add(time.Hour)
	parse := func(der []byte) []*x509.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{c}
	}
	agentDER := hosts.client(t, "agent-1", expires)
	agent, alice := parse(agentDER), parse(users.client(t, "alice", expires))

	f := &fakeAuthorities{}
	f.set(users.cert)
	f.setHost(hosts.cert)
	tr := NewTrust(f, time.Hour)
	for i := range 2 {
		if leaf, err := tr.VerifyHost(ctx, agent); err != nil || leaf != agent[0] {
			t.Fatalf("check %d of the agent's chain: %v, %v", i+1, leaf, err)
		}
	}
	if n := len(tr.verified); n != 1 {
		t.Fatalf("%d chains remembered after two checks of one host chain, want 1", n)
	}
	if _, err := tr.VerifyClient(ctx, [][]byte{agentDER}); err == nil {
		t.Fatal("a remembered host chain passed as a client's")
	}
	if _, err := tr.VerifyHost(ctx, alice); err == nil || !strings.Contains(err.Error(), "host certificate") {
		t.Fatalf("a user's chain as a host's: err = %v", err)
	}
	f.setHost(other.cert)
	tr.Invalidate()
	if _, err := tr.VerifyHost(ctx, agent); err == nil {
		t.Fatal("a remembered host chain passed after the host authority rotated away")
	}
	if _, err := tr.VerifyHost(ctx, nil); err == nil {
		t.Fatal("no chain passed")
	}
}

func TestRememberIsBounded(t *testing.T) {
	now := time.Now()
	key := func(i int) chainKey {
		var k chainKey
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		return k
	}
	tests := []struct {
		name string
		// expired is how many of the full set are expired at now.
		expired int
		want    int
	}{
		{"none expired: one dropped for the new one", 0, maxVerified},
		{"expired ones go first", 100, maxVerified - 100 + 1},
		{"all expired", maxVerified, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTrust(&fakeAuthorities{}, time.Hour)
			for i := range maxVerified {
				notAfter := now.Add(time.Hour)
				if i < tt.expired {
					notAfter = now.Add(-time.Second)
				}
				tr.remember(key(i), verifiedChain{notAfter: notAfter}, now)
			}
			tr.remember(key(maxVerified), verifiedChain{notAfter: now.Add(time.Hour)}, now)
			if n := len(tr.verified); n != tt.want {
				t.Fatalf("%d chains remembered, want %d", n, tt.want)
			}
			if _, ok := tr.verified[key(maxVerified)]; !ok {
				t.Fatal("the newest chain was not remembered")
			}
			for k, v := range tr.verified {
				if now.After(v.notAfter) && tt.expired > 0 {
					t.Fatalf("an expired chain %x stayed", k[:3])
				}
			}
		})
	}
}

func TestKeyOfSeparatesChains(t *testing.T) {
	a, b := []byte("first"), []byte("second")
	keys := map[chainKey]string{}
	for name, chain := range map[string][][]byte{
		"a":      {a},
		"a,b":    {a, b},
		"b,a":    {b, a},
		"joined": {append(append([]byte{}, a...), b...)},
		"split":  {[]byte("firs"), []byte("tsecond")},
	} {
		k := keyOf(sdk.AuthorityUser, chain)
		if other, ok := keys[k]; ok {
			t.Fatalf("chains %s and %s have one key", name, other)
		}
		keys[k] = name
	}
	if keyOf(sdk.AuthorityUser, [][]byte{a}) == keyOf(sdk.AuthorityHost, [][]byte{a}) {
		t.Fatal("one chain has one key for two authorities")
	}
}

// BenchmarkVerifyClient compares a chain's first verification with the
// checks that find it remembered.
func BenchmarkVerifyClient(b *testing.B) {
	ca := newTestCA(b, "user CA")
	chain := [][]byte{ca.client(b, "alice", time.Now().Add(time.Hour))}
	f := &fakeAuthorities{}
	f.set(ca.cert)
	ctx := context.Background()
	b.Run("verified", func(b *testing.B) {
		tr := NewTrust(f, time.Hour)
		for b.Loop() {
			tr.verified = nil
			if _, err := tr.VerifyClient(ctx, chain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		tr := NewTrust(f, time.Hour)
		for b.Loop() {
			if _, err := tr.VerifyClient(ctx, chain); err != nil {
				b.Fatal(err)
			}
		}
	})
}
