package cavault

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// files is the backend that signs with the operator's CA files.
type files struct {
	now     func() time.Time
	issuers map[sdk.Authority]issuer
}

// loadFiles reads and checks the four authorities' files. Every problem
// is reported as a diagnostic on the attribute at fault.
func loadFiles(cfgs []authorityConfig, now func() time.Time) (*files, error) {
	var diags sdk.Diagnostics
	f := &files{now: now, issuers: map[sdk.Authority]issuer{}}
	seen := map[sdk.Authority]bool{}
	for _, c := range cfgs {
		a, ok := parseAuthority(c.Type)
		switch {
		case !ok:
			diags.Add("authority.type", fmt.Sprintf("unknown authority type %q", c.Type), "want user, host, db or db-client")
			continue
		case seen[a]:
			diags.Add("authority.type", fmt.Sprintf("the %s authority is configured twice", a), "give each authority exactly one authority block")
			continue
		}
		seen[a] = true
		iss, ok := loadIssuer(a, c, now(), &diags)
		if !ok {
			continue
		}
		for b, other := range f.issuers {
			if publicKeysEqual(other.cert.PublicKey, iss.cert.PublicKey) {
				diags.Add("authority.cert_file", fmt.Sprintf("%s authority: %s certifies the same key as the %s authority", a, c.CertFile, b),
					"each authority needs its own key, or one compromised authority compromises the others")
			}
		}
		f.issuers[a] = iss
	}
	var missing []string
	for _, a := range authorities() {
		if !seen[a] {
			missing = append(missing, a.String())
		}
	}
	if len(missing) > 0 {
		diags.Add("authority", "the file backend needs an authority block for "+strings.Join(missing, ", "),
			"each of user, host, db and db-client has its own CA certificate and key")
	}
	if err := diags.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// loadIssuer reads one authority block's files and checks that they make
// a usable CA, adding a diagnostic for each problem.
func loadIssuer(a sdk.Authority, c authorityConfig, now time.Time, diags *sdk.Diagnostics) (issuer, bool) {
	certs, certErr := readCertificates(c.CertFile)
	if certErr != nil {
		diags.Add("authority.cert_file", fmt.Sprintf("%s authority: %v", a, certErr), "")
	}
	signer, keyErr := readPrivateKey(c.KeyFile)
	if keyErr != nil {
		diags.Add("authority.key_file", fmt.Sprintf("%s authority: %v", a, keyErr), "")
	}
	if certErr != nil {
		return issuer{}, false
	}
	ok := keyErr == nil
	if err := checkCA(certs[0], now); err != nil {
		diags.Add("authority.cert_file", fmt.Sprintf("%s authority: %s: %v", a, c.CertFile, err), "")
		ok = false
	}
	if keyErr == nil && !publicKeysEqual(certs[0].PublicKey, signer.Public()) {
		diags.Add("authority.key_file", fmt.Sprintf("%s authority: the key in %s does not match the certificate in %s", a, c.KeyFile, c.CertFile),
			"key_file must hold the private key of the first certificate in cert_file")
		ok = false
	}
	if !ok {
		return issuer{}, false
	}
	chain := make([][]byte, 0, len(certs))
	for _, cert := range certs {
		chain = append(chain, cert.Raw)
	}
	return issuer{cert: certs[0], signer: signer, chain: chain}, true
}

// checkCA refuses a certificate that cannot issue certificates now.
func checkCA(cert *x509.Certificate, now time.Time) error {
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return errors.New("not a CA certificate (basic constraints do not say CA:TRUE)")
	case cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return errors.New("not a CA certificate (key usage lacks keyCertSign)")
	case !now.Before(cert.NotAfter):
		return fmt.Errorf("the certificate expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func (f *files) issuer(a sdk.Authority, _ bool) (issuer, error) {
	if err := checkAuthority(a); err != nil {
		return issuer{}, err
	}
	return f.issuers[a], nil
}

func (f *files) states() ([]sdk.AuthorityState, error) {
	out := make([]sdk.AuthorityState, 0, len(f.issuers))
	for _, a := range authorities() {
		out = append(out, sdk.AuthorityState{
			Authority:    a,
			Certificates: [][]byte{f.issuers[a].cert.Raw},
			Phase:        sdk.PhaseStandby,
		})
	}
	return out, nil
}

func (f *files) rotate(req sdk.RotateRequest) (sdk.AuthorityState, error) {
	a := req.Authority
	return sdk.AuthorityState{}, fmt.Errorf("the file backend cannot rotate the %s authority: its key is the operator's; issue a new CA certificate and key, point the authority block's cert_file and key_file at them and restart", a)
}

func (f *files) health() error {
	now := f.now()
	for _, a := range authorities() {
		if c := f.issuers[a].cert; !now.Before(c.NotAfter) {
			return fmt.Errorf("the %s CA certificate expired on %s; replace its files", a, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func (f *files) close() error { return nil }
