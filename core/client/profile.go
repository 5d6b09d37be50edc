// Package client is what a user's keyway command needs: the profile
// written by keyway login, identity files, and connections to the
// cluster API through the proxy.
package client

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
)

// Profile is a logged-in user's state under ~/.keyway.
type Profile struct {
	Dir   string `json:"-"`
	Proxy string `json:"proxy"`
	// Proxies are the public addresses of the cluster's proxies when
	// the user logged in; commands fall back on them, in order, when
	// Proxy does not accept a connection.
	Proxies []string `json:"proxies,omitempty"`
	User    string   `json:"user"`
	Cluster string   `json:"cluster"`
	// HostCAs verify the proxy; DBCAs verify databases (for reference).
	HostCAs [][]byte `json:"host_cas"`
	DBCAs   [][]byte `json:"db_cas"`
}

// Home returns keyway's directory for the current user: $KEYWAY_HOME, or
// ~/.keyway.
func Home() (string, error) {
	if h := os.Getenv("KEYWAY_HOME"); h != "" {
		return h, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding your home directory: %w", err)
	}
	return filepath.Join(home, ".keyway"), nil
}

// ErrNotLoggedIn means there is no profile.
var ErrNotLoggedIn = errors.New("you are not logged in: run keyway login --proxy=HOST:PORT --user=NAME")

// LoadProfile reads the profile in dir.
func LoadProfile(dir string) (*Profile, error) {
	b, err := os.ReadFile(filepath.Join(dir, "profile.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, err
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "profile.json"), err)
	}
	p.Dir = dir
	return &p, nil
}

// Save writes the profile and the user's certificate and key (0600).
func (p *Profile) Save(certDER, keyPEM []byte) error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := authority.WriteFile(p.keyPath(), keyPEM, 0o600); err != nil {
		return err
	}
	if err := authority.WriteFile(p.certPath(), authority.CertsPEM(certDER), 0o600); err != nil {
		return err
	}
	return authority.WriteFile(filepath.Join(p.Dir, "profile.json"), b, 0o600)
}

func (p *Profile) keyPath() string  { return filepath.Join(p.Dir, "user.key") }
func (p *Profile) certPath() string { return filepath.Join(p.Dir, "user.crt") }

// Certificate returns the user's certificate and key.
func (p *Profile) Certificate() (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(p.certPath(), p.keyPath())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading your login: %w (run keyway login again)", err)
	}
	return c, nil
}

// Remove deletes the profile, the user's key and every database
// certificate.
func (p *Profile) Remove() error {
	return os.RemoveAll(p.Dir)
}

// FromIdentityFile makes a profile-like view of an identity file, for
// scripts: keyway -i bot.id db ls.
func FromIdentityFile(path, proxy string) (*Profile, tls.Certificate, error) {
	f, pair, err := authority.ReadIdentityFile(path)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	id, err := f.Identity()
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	if time.Now().After(id.NotAfter) {
		return nil, tls.Certificate{}, fmt.Errorf("identity file %s expired at %s", path, id.NotAfter.UTC().Format(time.RFC3339))
	}
	return &Profile{Proxy: proxy, User: id.Name, Cluster: id.ID.TrustDomain().Name(), HostCAs: f.CAs[sdk.AuthorityHost], DBCAs: f.CAs[sdk.AuthorityDB]}, pair, nil
}

// Current loads the profile of keyway login from Home.
func Current() (*Profile, error) {
	home, err := Home()
	if err != nil {
		return nil, err
	}
	return LoadProfile(home)
}
