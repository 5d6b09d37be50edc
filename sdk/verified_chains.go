package sdk

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// maxVerifiedChains bounds the server chains a plugin remembers. A plugin
// dials a few databases, and an agent's plugin its proxies; each entry is
// a digest and a time window.
const maxVerifiedChains = 1024

// verifiedChains remembers the server certificate chains that verified,
// so a plugin that connects to the same server for every session checks
// the chain's signatures once rather than each time. An entry is the
// chain's digest with the name it was checked for, and holds while the
// pool is the one it verified against and the time is within every
// certificate's validity. What it saves is the chain's check only: the
// handshake still proves that the server holds the leaf's key (crypto/tls
// verifies the server's signature whatever verifies the chain).
//
// The zero value is ready to use and safe for concurrent use.
type verifiedChains struct {
	mu sync.Mutex
	m  map[chainDigest]chainWindow
}

// chainDigest names a chain (DER, leaf first) and the server name it was
// checked for.
type chainDigest [sha256.Size]byte

// chainWindow is a verified chain's pool and the time in which every
// certificate of the path it verified along is valid.
type chainWindow struct {
	roots               *x509.CertPool
	notBefore, notAfter time.Time
}

func digestOf(name string, certs []*x509.Certificate) chainDigest {
	h := sha256.New()
	var n [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put([]byte(name))
	for _, c := range certs {
		put(c.Raw)
	}
	var d chainDigest
	h.Sum(d[:0])
	return d
}

// verify checks that certs (leaf first) chain to roots for server
// authentication at now and, unless name is empty, that the leaf names
// name: what crypto/tls checks of a server, remembered.
func (v *verifiedChains) verify(certs []*x509.Certificate, roots *x509.CertPool, name string, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("the server sent no certificate")
	}
	key := digestOf(name, certs)
	if v.recall(key, roots, now) {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: name, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return err
	}
	w := chainWindow{roots: roots}
	for i, c := range chains[0] {
		if i == 0 || c.NotBefore.After(w.notBefore) {
			w.notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(w.notAfter) {
			w.notAfter = c.NotAfter
		}
	}
	v.remember(key, w, now)
	return nil
}

// recall reports whether the chain under key verified against roots and
// still holds at now.
func (v *verifiedChains) recall(key chainDigest, roots *x509.CertPool, now time.Time) bool {
	v.mu.Lock()
	w, ok := v.m[key]
	v.mu.Unlock()
	return ok && w.roots == roots && !now.Before(w.notBefore) && !now.After(w.notAfter)
}

// remember keeps a verified chain. When full, it first drops the chains
// expired at now, then arbitrary ones.
func (v *verifiedChains) remember(key chainDigest, w chainWindow, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[chainDigest]chainWindow)
	}
	if _, ok := v.m[key]; !ok && len(v.m) >= maxVerifiedChains {
		for k, old := range v.m {
			if now.After(old.notAfter) {
				delete(v.m, k)
			}
		}
		for k := range v.m {
			if len(v.m) < maxVerifiedChains {
				break
			}
			delete(v.m, k)
		}
	}
	v.m[key] = w
}

// verifyServerWith makes cfg check the server's chain against roots, and
// its name unless name is empty, through v: crypto/tls's own chain check
// is replaced by the remembered one (the server's signature is still
// checked by the handshake).
func (v *verifiedChains) verifyServerWith(cfg *tls.Config, roots *x509.CertPool, name string) {
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := v.verify(cs.PeerCertificates, roots, name, time.Now()); err != nil {
			return fmt.Errorf("tls: failed to verify certificate: %w", err)
		}
		return nil
	}
}
