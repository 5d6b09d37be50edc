package authority

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// DBRequest asks for a database server certificate.
type DBRequest struct {
	// Hosts are the names and addresses clients use to reach the
	// database; the first becomes the common name.
	Hosts []string
	TTL   time.Duration
	// KeyAlgorithm is one of the Key constants.
	KeyAlgorithm string
}

// DBFiles are the contents of the files `auth sign --format=db` writes.
type DBFiles struct {
	// Cert is the server certificate (ssl_cert_file).
	Cert []byte
	// Key is its private key (ssl_key_file), PEM.
	Key []byte
	// CAs are the db-client authority's trusted certificates
	// (the database's client CA setting): the database accepts client
	// certificates they signed.
	CAs []byte
}

// SignDB issues a database server certificate from the db authority.
func SignDB(ctx context.Context, ca CA, req DBRequest, now time.Time) (DBFiles, error) {
	if len(req.Hosts) == 0 {
		return DBFiles{}, fmt.Errorf("a database certificate needs at least one host name or address")
	}
	if req.TTL <= 0 {
		return DBFiles{}, fmt.Errorf("ttl must be positive, not %s", req.TTL)
	}
	key, err := NewKey(req.KeyAlgorithm)
	if err != nil {
		return DBFiles{}, err
	}
	csr, err := NewCSR(key, req.Hosts[0])
	if err != nil {
		return DBFiles{}, err
	}
	sr := sdk.SignRequest{
		Authority: sdk.AuthorityDB, CSR: csr, CommonName: req.Hosts[0],
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(req.TTL),
		Usages: []string{"server"},
	}
	for _, h := range req.Hosts {
		if net.ParseIP(h) != nil {
			sr.IPAddresses = append(sr.IPAddresses, h)
		} else {
			sr.DNSNames = append(sr.DNSNames, h)
		}
	}
	resp, err := ca.Sign(ctx, sr)
	if err != nil {
		return DBFiles{}, err
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return DBFiles{}, err
	}
	cas, err := Export(ctx, ca, sdk.AuthorityDBClient)
	if err != nil {
		return DBFiles{}, err
	}
	return DBFiles{Cert: CertsPEM(resp.Certificate), Key: keyPEM, CAs: cas}, nil
}

// Write writes prefix.crt, prefix.key (0600) and prefix.cas.
func (f DBFiles) Write(prefix string) error {
	if err := WriteFile(prefix+".key", f.Key, 0o600); err != nil {
		return err
	}
	if err := WriteFile(prefix+".crt", f.Cert, 0o644); err != nil {
		return err
	}
	return WriteFile(prefix+".cas", f.CAs, 0o644)
}

// DBClientRequest asks for a certificate to log in to a database as a
// database user with certificate authentication.
type DBClientRequest struct {
	DBUser       string
	TTL          time.Duration
	KeyAlgorithm string
}

// DBClientCert is a db-client certificate and its key, PEM encoded.
type DBClientCert struct {
	CertPEM  []byte
	KeyPEM   []byte
	NotAfter time.Time
}

// SignDBClientCert issues a client certificate from the db-client
// authority whose common name is the database user, as databases'
// certificate logins require.
func SignDBClientCert(ctx context.Context, ca CA, req DBClientRequest, now time.Time) (DBClientCert, error) {
	if req.DBUser == "" {
		return DBClientCert{}, fmt.Errorf("a db-client certificate needs a database user")
	}
	if req.TTL <= 0 {
		return DBClientCert{}, fmt.Errorf("ttl must be positive, not %s", req.TTL)
	}
	key, err := NewKey(req.KeyAlgorithm)
	if err != nil {
		return DBClientCert{}, err
	}
	csr, err := NewCSR(key, req.DBUser)
	if err != nil {
		return DBClientCert{}, err
	}
	notAfter := now.Add(req.TTL)
	resp, err := ca.Sign(ctx, sdk.SignRequest{
		Authority: sdk.AuthorityDBClient, CSR: csr, CommonName: req.DBUser,
		NotBefore: now.Add(-time.Minute), NotAfter: notAfter,
		Usages: []string{"client"},
	})
	if err != nil {
		return DBClientCert{}, err
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return DBClientCert{}, err
	}
	return DBClientCert{CertPEM: CertsPEM(resp.Certificate), KeyPEM: keyPEM, NotAfter: notAfter}, nil
}

// IssueDBClient signs a db-client certificate (CN = the database user)
// for the public key of a CSR made elsewhere: what an agent asks for.
func IssueDBClient(ctx context.Context, ca CA, dbUser string, csr []byte, ttl time.Duration, now time.Time) ([]byte, time.Time, error) {
	if dbUser == "" {
		return nil, time.Time{}, fmt.Errorf("a db-client certificate needs a database user")
	}
	notAfter := now.Add(ttl)
	resp, err := ca.Sign(ctx, sdk.SignRequest{
		Authority: sdk.AuthorityDBClient, CSR: csr, CommonName: dbUser,
		NotBefore: now.Add(-time.Minute), NotAfter: notAfter, Usages: []string{"client"},
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return resp.Certificate, notAfter, nil
}

// SignDBClient is SignDBClientCert plus the db authority, for
// sslmode=verify-full: the files `auth sign --format=db-client` writes.
func SignDBClient(ctx context.Context, ca CA, req DBClientRequest, now time.Time) (DBFiles, error) {
	c, err := SignDBClientCert(ctx, ca, req, now)
	if err != nil {
		return DBFiles{}, err
	}
	cas, err := Export(ctx, ca, sdk.AuthorityDB)
	if err != nil {
		return DBFiles{}, err
	}
	return DBFiles{Cert: c.CertPEM, Key: c.KeyPEM, CAs: cas}, nil
}
