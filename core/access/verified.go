package access

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// maxVerified bounds the client and host chains a Trust remembers, each
// a parsed leaf of a few KiB. A client that reconnects for every transaction
// presents the same chain each time; a thousand covers the users of a
// busy proxy, whose short-lived certificates are dropped once expired.
const maxVerified = 1024

// chainKey names a certificate chain (DER, leaf first) and the authority
// it is checked against by their digest.
type chainKey [sha256.Size]byte

func keyOf(a sdk.Authority, chain [][]byte) chainKey {
	h := sha256.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(a))
	h.Write(n[:])
	for _, der := range chain {
		binary.BigEndian.PutUint32(n[:], uint32(len(der)))
		h.Write(n[:])
		h.Write(der)
	}
	var k chainKey
	h.Sum(k[:0])
	return k
}

// verifiedChain is a chain that verified against pool: it stays
// good while pool is the authority's pool and the time is within
// [notBefore, notAfter], the window in which every certificate of the
// chain it verified along is valid.
type verifiedChain struct {
	leaf                *x509.Certificate
	pool                *x509.CertPool
	notBefore, notAfter time.Time
}

// good reports whether v still holds for pool at now.
func (v verifiedChain) good(pool *x509.CertPool, now time.Time) bool {
	return v.pool == pool && !now.Before(v.notBefore) && !now.After(v.notAfter)
}

// windowOf is the time in which every certificate of chain is valid.
func windowOf(chain []*x509.Certificate) (notBefore, notAfter time.Time) {
	for i, c := range chain {
		if i == 0 || c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	return notBefore, notAfter
}

// recall returns the chain verified under key, if it still holds.
func (t *Trust) recall(key chainKey, pool *x509.CertPool, now time.Time) (*x509.Certificate, bool) {
	t.mu.Lock()
	v, ok := t.verified[key]
	t.mu.Unlock()
	if !ok || !v.good(pool, now) {
		return nil, false
	}
	return v.leaf, true
}

// remember keeps a verified chain. When full, it first drops the chains
// expired at now, then an arbitrary one.
func (t *Trust) remember(key chainKey, v verifiedChain, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.verified == nil {
		t.verified = make(map[chainKey]verifiedChain)
	}
	if _, ok := t.verified[key]; !ok && len(t.verified) >= maxVerified {
		for k, old := range t.verified {
			if now.After(old.notAfter) {
				delete(t.verified, k)
			}
		}
		for k := range t.verified {
			if len(t.verified) < maxVerified {
				break
			}
			delete(t.verified, k)
		}
	}
	t.verified[key] = v
}
