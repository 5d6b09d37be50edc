package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// userSession returns who the command runs as: the identity file given
// with -i (and --proxy), or the profile of keyway login.
func userSession(cmd *cobra.Command) (*client.Profile, tls.Certificate, error) {
	return session(cmd, true)
}

// localSession is userSession for a command that reaches no proxy
// (status, db logout): with -i it needs no --proxy.
func localSession(cmd *cobra.Command) (*client.Profile, tls.Certificate, error) {
	return session(cmd, false)
}

func session(cmd *cobra.Command, needProxy bool) (*client.Profile, tls.Certificate, error) {
	idFile, _ := cmd.Flags().GetString("identity")
	proxyAddr, _ := cmd.Flags().GetString("proxy")
	if idFile != "" {
		if proxyAddr == "" && needProxy {
			return nil, tls.Certificate{}, fmt.Errorf("with -i, give the proxy too: --proxy=HOST:PORT")
		}
		return client.FromIdentityFile(idFile, proxyAddr)
	}
	prof, err := client.Current()
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	cert, err := prof.Certificate()
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil && time.Now().After(leaf.NotAfter) {
		return nil, tls.Certificate{}, fmt.Errorf("your login expired at %s: run keyway login again", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return prof, cert, nil
}

// printStatus shows who is logged in, with roles, traits and expiry.
func printStatus(cmd *cobra.Command, prof *client.Profile, cert tls.Certificate) error {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return err
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil {
		return err
	}
	return writeIdentity(cmd.OutOrStdout(), prof, id)
}

func writeIdentity(w io.Writer, prof *client.Profile, id identity.Identity) error {
	left := time.Until(id.NotAfter).Round(time.Minute)
	state := fmt.Sprintf("valid until %s (%s left)", id.NotAfter.Local().Format(time.RFC3339), left)
	if left <= 0 {
		state = "expired at " + id.NotAfter.Local().Format(time.RFC3339) + "; run keyway login"
	}
	proxies := prof.Proxy
	if others := prof.Addresses()[1:]; len(others) > 0 {
		proxies += " (then " + strings.Join(others, ", ") + ")"
	}
	_, err := fmt.Fprintf(w, "logged in as: %s\nidentity:     %s\nproxy:        %s\ncluster:      %s\nroles:        %s\ndb users:     %s\ndb names:     %s\ncertificate:  %s\n",
		id.Name, id.ID, proxies, prof.Cluster, strings.Join(id.Roles, ", "), strings.Join(id.DBUsers, ", "), strings.Join(id.DBNames, ", "), state)
	return err
}
