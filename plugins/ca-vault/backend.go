package cavault

import (
	"crypto"
	"crypto/x509"

	"github.com/keyway-dev/keyway/sdk"
)

// backend holds the authorities' keys. Implementations are safe for
// concurrent use.
type backend interface {
	// issuer returns what signs for a now: server certificates (server
	// set) and client certificates may differ during a rotation.
	issuer(a sdk.Authority, server bool) (issuer, error)
	// states returns the trusted certificates of all four authorities.
	states() ([]sdk.AuthorityState, error)
	// rotate moves an authority's rotation to req.Phase.
	rotate(req sdk.RotateRequest) (sdk.AuthorityState, error)
	// health returns nil while every authority can sign.
	health() error
	// close releases what the backend holds open; it is not used after.
	close() error
}

// issuer is an authority's active CA.
type issuer struct {
	cert   *x509.Certificate
	signer crypto.Signer
	// chain is cert's DER followed by its parents, if any.
	chain [][]byte
	// release, if set, is called once the signing is done: until then
	// the key is not destroyed.
	release func()
}

// done says the signing with the issuer's key has ended.
func (i issuer) done() {
	if i.release != nil {
		i.release()
	}
}
