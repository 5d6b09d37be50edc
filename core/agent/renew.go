package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
)

// Renewal's timing.
const (
	// DefaultRenewCheck is how often a Renewer looks at the certificate
	// when it is not yet due, and at the host authority it should be
	// signed by.
	DefaultRenewCheck = 15 * time.Second
	// renewFirstRetry and renewMaxRetry bound the backoff after a failed
	// renewal.
	renewFirstRetry = time.Second
	renewMaxRetry   = time.Minute
	// renewCallTimeout bounds waiting for a tunnel and the call itself.
	renewCallTimeout = 30 * time.Second
)

// Renewer keeps the agent's host certificate valid: when a third of its
// lifetime is left it makes a new key, has the auth service certify it
// through a tunnel (Agent.RenewHost), stores the key, certificate and the
// host authorities it was given under the data directory, and hands them
// to the next tunnel dials through Identity. Failures are logged and
// retried with backoff.
type Renewer struct {
	DataDir  string
	Identity *CurrentIdentity
	Remote   *Remote
	Logger   hclog.Logger
	// Check is how often the certificate is looked at; DefaultRenewCheck
	// when zero.
	Check time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Run renews until ctx ends.
func (r *Renewer) Run(ctx context.Context) {
	// pause keeps a renewed certificate that already looks due (clocks
	// far apart) from being renewed again at once.
	var backoff, pause time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(r.delay(backoff), pause)):
		}
		pause = 0
		leaf, err := leafOf(r.Identity.Get().Cert)
		if err != nil {
			r.Logger.Error("cannot renew the host certificate", "error", err)
			return
		}
		if !NeedsRenewal(leaf, r.now()) {
			if !r.rotated(ctx, leaf) {
				continue
			}
			r.Logger.Info("the host authority was rotated; renewing the host certificate with the new key")
		}
		if err := r.Renew(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, renewFirstRetry), renewMaxRetry)
			r.Logger.Warn("renewing the host certificate failed; retrying", "error", err,
				"expires", leaf.NotAfter.UTC().Format(time.RFC3339), "retry_in", backoff)
			continue
		}
		backoff, pause = 0, renewFirstRetry
	}
}

// rotated reports whether the host authority now signs with another key
// than the one that signed leaf. The agent then renews at once, so that
// its certificate and its trusted authorities follow a rotation well
// within the grace period. Any doubt (no tunnel, an auth service that
// sends no host authority) counts as no.
func (r *Renewer) rotated(ctx context.Context, leaf *x509.Certificate) bool {
	if !r.Remote.Connected() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, renewCallTimeout)
	defer cancel()
	hosts, err := r.Remote.PEM(ctx, sdk.AuthorityHost)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(hosts)
	if block == nil {
		return false
	}
	active, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	return leaf.CheckSignatureFrom(active) != nil
}

// delay is how long to wait before looking at the certificate again:
// the backoff after a failure, else until it is due, at most Check.
func (r *Renewer) delay(backoff time.Duration) time.Duration {
	if backoff > 0 {
		return backoff
	}
	check := r.Check
	if check <= 0 {
		check = DefaultRenewCheck
	}
	leaf, err := leafOf(r.Identity.Get().Cert)
	if err != nil {
		return 0 // Run reports it
	}
	return min(max(RenewalDue(leaf).Sub(r.now()), 0), check)
}

// Renew replaces the host certificate now, through any tunnel, waiting
// a while for one to come up.
func (r *Renewer) Renew(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, renewCallTimeout)
	defer cancel()
	if _, err := r.Remote.waitLink(ctx); err != nil {
		return fmt.Errorf("waiting for a tunnel: %w", errors.Join(ErrNotConnected, err))
	}
	current := r.Identity.Get()
	leaf, err := leafOf(current.Cert)
	if err != nil {
		return err
	}
	key, err := authority.NewKey("")
	if err != nil {
		return fmt.Errorf("making the new host key: %w", err)
	}
	csr, err := authority.NewCSR(key, leaf.Subject.CommonName)
	if err != nil {
		return fmt.Errorf("making the renewal request: %w", err)
	}
	var resp *apiv1.RenewHostResponse
	err = r.Remote.call(ctx, func(c apiv1.AgentClient) (err error) {
		resp, err = c.RenewHost(ctx, &apiv1.RenewHostRequest{Csr: csr})
		return err
	})
	if err != nil {
		return fmt.Errorf("asking the auth service: %w", err)
	}
	keyPEM, err := authority.KeyPEM(key)
	if err != nil {
		return fmt.Errorf("encoding the new host key: %w", err)
	}
	cert, err := checkRenewed(keyPEM, resp)
	if err != nil {
		return err
	}
	if err := WriteHostFiles(identityDir(r.DataDir), keyPEM, [][]byte{resp.GetCertificate()}, resp.GetHostCas()); err != nil {
		return fmt.Errorf("storing the renewed host certificate: %w", err)
	}
	r.Identity.Set(Identity{Cert: cert, HostCAs: resp.GetHostCas(), Cluster: current.Cluster})
	r.Logger.Info("renewed the host certificate", "expires", cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
		"host_authorities", len(resp.GetHostCas()))
	return nil
}

// checkRenewed refuses an answer that would lock the agent out: a
// certificate that does not match the new key, or that none of the host
// authorities returned signs.
func checkRenewed(keyPEM []byte, resp *apiv1.RenewHostResponse) (tls.Certificate, error) {
	cert, err := tls.X509KeyPair(authority.CertsPEM(resp.GetCertificate()), keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the renewed host certificate does not match the new key: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(resp.GetCertificate()); err != nil {
			return tls.Certificate{}, fmt.Errorf("the renewed host certificate: %w", err)
		}
	}
	pool := x509.NewCertPool()
	for _, der := range resp.GetHostCas() {
		ca, err := x509.ParseCertificate(der)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("a host authority in the renewal: %w", err)
		}
		pool.AddCert(ca)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return tls.Certificate{}, fmt.Errorf("the renewed host certificate is not signed by the host authorities returned: %w", err)
	}
	return cert, nil
}

func (r *Renewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
