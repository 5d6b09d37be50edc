package cavault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// vault is the ca-vault plugin.
type vault struct {
	now func() time.Time

	mu      sync.RWMutex
	backend backend // nil until configured
}

var _ sdk.CAPlugin = (*vault)(nil)

// New returns the ca-vault plugin, not yet configured.
func New() sdk.Plugin {
	return newVault(time.Now)
}

// newVault returns a plugin reading time from now.
func newVault(now func() time.Time) *vault {
	return &vault{now: now}
}

// Info describes the plugin.
func (v *vault) Info() sdk.Info {
	return sdk.Info{Name: "ca-vault", Kind: sdk.KindCA, Version: "0.1.0"}
}

// ConfigSchema describes the plugin's config block.
func (v *vault) ConfigSchema() sdk.Schema {
	return schema()
}

// Configure checks the configuration and loads (or, for a new managed or
// pkcs11 backend, creates) the authorities. A failed Configure leaves the
// previous configuration in force.
func (v *vault) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var cfg config
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if diags := cfg.check(); len(diags) > 0 {
		return diags
	}
	var (
		b   backend
		err error
	)
	switch cfg.Backend {
	case backendManaged:
		b, err = openManaged(managedOptions{
			dataDir:   req.DataDir,
			cluster:   req.ClusterName,
			algorithm: cfg.KeyAlgorithm,
			now:       v.now,
		})
	case backendFile:
		b, err = loadFiles(cfg.Authority, v.now)
	case backendPKCS11:
		b, err = openPKCS11(pkcs11Options{
			dataDir: req.DataDir,
			cluster: req.ClusterName,
			cfg:     *cfg.PKCS11,
			now:     v.now,
		})
	}
	if err != nil {
		return err
	}
	v.mu.Lock()
	old := v.backend
	v.backend = b
	v.mu.Unlock()
	if old != nil {
		// The new backend is in force; the old one's resources (a
		// token session) are not needed any more.
		_ = old.close()
	}
	return nil
}

// Health returns nil while the authorities are loaded and usable.
func (v *vault) Health(context.Context) error {
	b, err := v.current()
	if err != nil {
		return err
	}
	return b.health()
}

// Authorities returns the trusted certificates of the four authorities.
func (v *vault) Authorities(context.Context) ([]sdk.AuthorityState, error) {
	b, err := v.current()
	if err != nil {
		return nil, err
	}
	return b.states()
}

// Rotate moves an authority's rotation to the requested phase.
func (v *vault) Rotate(_ context.Context, req sdk.RotateRequest) (sdk.AuthorityState, error) {
	if err := checkAuthority(req.Authority); err != nil {
		return sdk.AuthorityState{}, fmt.Errorf("rotating: %w", err)
	}
	if req.Grace < 0 {
		return sdk.AuthorityState{}, fmt.Errorf("rotating the %s authority: negative grace period %s", req.Authority, req.Grace)
	}
	b, err := v.current()
	if err != nil {
		return sdk.AuthorityState{}, err
	}
	return b.rotate(req)
}

// close releases the configured backend's resources.
func (v *vault) close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.backend == nil {
		return nil
	}
	err := v.backend.close()
	v.backend = nil
	return err
}

// current returns the configured backend.
func (v *vault) current() (backend, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.backend == nil {
		return nil, errors.New("ca-vault is not configured yet")
	}
	return v.backend, nil
}
