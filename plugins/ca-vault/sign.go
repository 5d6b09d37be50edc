package cavault

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/keyway-dev/keyway/sdk"
)

// Sign certifies the public key of req.CSR with the requested authority's
// active key. Only the CSR's key is used: names, validity, usages and
// extensions come from req, which the core has authorised.
func (v *vault) Sign(_ context.Context, req sdk.SignRequest) (sdk.SignResponse, error) {
	if err := checkAuthority(req.Authority); err != nil {
		return sdk.SignResponse{}, fmt.Errorf("signing: %w", err)
	}
	b, err := v.current()
	if err != nil {
		return sdk.SignResponse{}, err
	}
	iss, err := b.issuer(req.Authority, slices.Contains(req.Usages, "server"))
	if err != nil {
		return sdk.SignResponse{}, fmt.Errorf("signing with the %s authority: %w", req.Authority, err)
	}
	defer iss.done()
	der, err := signLeaf(iss, req)
	if err != nil {
		return sdk.SignResponse{}, fmt.Errorf("signing with the %s authority: %w", req.Authority, err)
	}
	return sdk.SignResponse{Certificate: der, Chain: iss.chain}, nil
}

// signLeaf issues the certificate req describes, signed by iss.
func signLeaf(iss issuer, req sdk.SignRequest) ([]byte, error) {
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("parsing the CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the CSR's signature does not verify with the key it carries: %w", err)
	}
	tmpl, err := leafTemplate(req, csr.PublicKey, iss.cert)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, iss.cert, csr.PublicKey, iss.signer)
	if err != nil {
		return nil, fmt.Errorf("creating the certificate: %w", err)
	}
	return der, nil
}
