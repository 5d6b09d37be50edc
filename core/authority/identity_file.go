package authority

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// IdentityRequest asks for a user or bot certificate.
type IdentityRequest struct {
	Cluster string
	Kind    identity.Kind
	Name    string
	Roles   []string
	DBUsers []string
	DBNames []string
	// Route binds the certificate to one database session.
	Route *identity.Route
	TTL   time.Duration
	// KeyAlgorithm is one of the Key constants.
	KeyAlgorithm string
}

// DefaultUserTTL is how long a user certificate lives unless asked
// otherwise.
const DefaultUserTTL = 12 * time.Hour

// authorityHeader names, in an identity file, which authority a CA
// certificate belongs to.
const authorityHeader = "Keyway-Authority"

// IdentityFile is a certificate, its key, and the cluster's CAs a client
// needs to trust the cluster: one file that scripts pass with -i.
type IdentityFile struct {
	Cert []byte // DER
	Key  []byte // PEM
	// CAs maps an authority to its trusted certificates (DER).
	CAs map[sdk.Authority][][]byte
}

// SignIdentity issues a user or bot certificate from the user authority,
// with a key generated here, and bundles it with the cluster's CAs.
func SignIdentity(ctx context.Context, ca CA, req IdentityRequest, now time.Time) (IdentityFile, error) {
	key, err := NewKey(req.KeyAlgorithm)
	if err != nil {
		return IdentityFile{}, err
	}
	csr, err := NewCSR(key, req.Name)
	if err != nil {
		return IdentityFile{}, err
	}
	cert, err := IssueIdentity(ctx, ca, req, csr, now)
	if err != nil {
		return IdentityFile{}, err
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return IdentityFile{}, err
	}
	f := IdentityFile{Cert: cert, Key: keyPEM, CAs: map[sdk.Authority][][]byte{}}
	for _, a := range []sdk.Authority{sdk.AuthorityHost, sdk.AuthorityDB} {
		st, err := State(ctx, ca, a)
		if err != nil {
			return IdentityFile{}, err
		}
		f.CAs[a] = st.Certificates
	}
	return f, nil
}

// IssueIdentity signs a user or bot certificate for the public key of a
// CSR made elsewhere, carrying the identity's SPIFFE ID, roles, traits
// and route. It returns the certificate's DER.
func IssueIdentity(ctx context.Context, ca CA, req IdentityRequest, csr []byte, now time.Time) ([]byte, error) {
	if req.Kind != identity.KindUser && req.Kind != identity.KindBot {
		return nil, fmt.Errorf("identity certificates are for users and bots, not %q", req.Kind)
	}
	if req.TTL <= 0 {
		return nil, fmt.Errorf("ttl must be positive, not %s", req.TTL)
	}
	id, err := identity.New(req.Cluster, req.Kind, req.Name)
	if err != nil {
		return nil, err
	}
	ext, err := identity.Encode(identity.Identity{ID: id, Kind: req.Kind, Name: req.Name, Roles: req.Roles, DBUsers: req.DBUsers, DBNames: req.DBNames, Route: req.Route})
	if err != nil {
		return nil, err
	}
	resp, err := ca.Sign(ctx, sdk.SignRequest{
		Authority: sdk.AuthorityUser, CSR: csr, CommonName: req.Name,
		URIs: []string{id.String()}, Extensions: []pkix.Extension{ext},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(req.TTL),
		Usages: []string{"client"},
	})
	if err != nil {
		return nil, err
	}
	return resp.Certificate, nil
}

// Marshal encodes the identity file as PEM: the certificate, the key,
// then each CA certificate with a Keyway-Authority header.
func (f IdentityFile) Marshal() []byte {
	out := CertsPEM(f.Cert)
	out = append(out, f.Key...)
	for _, a := range All() {
		for _, der := range f.CAs[a] {
			out = append(out, pem.EncodeToMemory(&pem.Block{
				Type: "CERTIFICATE", Headers: map[string]string{authorityHeader: a.String()}, Bytes: der,
			})...)
		}
	}
	return out
}

// WriteClientFiles writes prefix.crt, prefix.key (0600) and prefix.cas
// (the host authority, to verify the proxy): what a database client
// needs to present the certificate and verify the proxy.
func (f IdentityFile) WriteClientFiles(prefix string) error {
	if err := WriteFile(prefix+".key", f.Key, 0o600); err != nil {
		return err
	}
	if err := WriteFile(prefix+".crt", CertsPEM(f.Cert), 0o644); err != nil {
		return err
	}
	return WriteFile(prefix+".cas", CertsPEM(f.CAs[sdk.AuthorityHost]...), 0o644)
}

// Write writes the identity file with mode 0600.
func (f IdentityFile) Write(path string) error {
	return WriteFile(path, f.Marshal(), 0o600)
}

// ReadIdentityFile parses an identity file and checks that its key
// matches its certificate.
func ReadIdentityFile(path string) (IdentityFile, tls.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return IdentityFile{}, tls.Certificate{}, fmt.Errorf("reading identity file: %w", err)
	}
	f := IdentityFile{CAs: map[sdk.Authority][][]byte{}}
	rest := raw
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE" && b.Headers[authorityHeader] != "":
			a, err := ParseAuthority(b.Headers[authorityHeader])
			if err != nil {
				return IdentityFile{}, tls.Certificate{}, fmt.Errorf("identity file %s: %w", path, err)
			}
			f.CAs[a] = append(f.CAs[a], b.Bytes)
		case b.Type == "CERTIFICATE" && f.Cert == nil:
			f.Cert = b.Bytes
		case b.Type == "PRIVATE KEY":
			f.Key = pem.EncodeToMemory(b)
		default:
			return IdentityFile{}, tls.Certificate{}, fmt.Errorf("identity file %s: unexpected PEM block %q", path, b.Type)
		}
	}
	if f.Cert == nil || f.Key == nil {
		return IdentityFile{}, tls.Certificate{}, fmt.Errorf("identity file %s lacks a certificate or a private key", path)
	}
	pair, err := tls.X509KeyPair(CertsPEM(f.Cert), f.Key)
	if err != nil {
		return IdentityFile{}, tls.Certificate{}, fmt.Errorf("identity file %s: %w", path, err)
	}
	return f, pair, nil
}

// Identity parses the identity in the file's certificate.
func (f IdentityFile) Identity() (identity.Identity, error) {
	cert, err := x509.ParseCertificate(f.Cert)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("parsing certificate: %w", err)
	}
	return identity.FromCertificate(cert)
}
