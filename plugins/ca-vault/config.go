package cavault

import (
	"fmt"
	"path/filepath"

	"github.com/keyway-dev/keyway/sdk"
)

// Backend and key algorithm names accepted in the configuration.
const (
	backendManaged = "managed"
	backendFile    = "file"
	backendPKCS11  = "pkcs11"

	algECDSAP256 = "ecdsa-p256"
	algRSA2048   = "rsa-2048"
	algRSA4096   = "rsa-4096"
)

// config is the plugin's configuration block.
type config struct {
	Backend      string            `json:"backend"`
	KeyAlgorithm string            `json:"key_algorithm"`
	Authority    []authorityConfig `json:"authority"`
	PKCS11       *pkcs11Config     `json:"pkcs11"`
}

// authorityConfig is one authority block of the file backend.
type authorityConfig struct {
	Type     string `json:"type"`
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// pkcs11Config is the pkcs11 block of the pkcs11 backend. It names the
// file holding the PIN, never the PIN itself.
type pkcs11Config struct {
	Module       string `json:"module"`
	TokenLabel   string `json:"token_label"`
	PINFile      string `json:"pin_file"`
	KeyAlgorithm string `json:"key_algorithm"`
}

// withDefaults fills in the defaults of unset attributes.
func (c config) withDefaults() config {
	if c.Backend == "" {
		c.Backend = backendManaged
	}
	if c.KeyAlgorithm == "" && c.Backend == backendManaged {
		c.KeyAlgorithm = algECDSAP256
	}
	if c.PKCS11 != nil && c.PKCS11.KeyAlgorithm == "" {
		p := *c.PKCS11
		p.KeyAlgorithm = algECDSAP256
		c.PKCS11 = &p
	}
	return c
}

// check reports the problems that need no file access.
func (c config) check() sdk.Diagnostics {
	var diags sdk.Diagnostics
	switch c.Backend {
	case backendManaged:
		switch c.KeyAlgorithm {
		case algECDSAP256, algRSA2048, algRSA4096:
		default:
			diags.Add("key_algorithm", fmt.Sprintf("unknown key algorithm %q", c.KeyAlgorithm),
				fmt.Sprintf("want %q, %q or %q", algECDSAP256, algRSA2048, algRSA4096))
		}
		c.refuseAuthorityBlocks(&diags)
		c.refusePKCS11Block(&diags)
	case backendFile:
		if c.KeyAlgorithm != "" {
			diags.Add("key_algorithm", "key_algorithm is only used by the managed backend",
				"the file backend signs with the keys in key_file")
		}
		c.refusePKCS11Block(&diags)
	case backendPKCS11:
		if c.KeyAlgorithm != "" {
			diags.Add("key_algorithm", "key_algorithm is only used by the managed backend",
				"set the key type of token keys with key_algorithm inside the pkcs11 block")
		}
		c.refuseAuthorityBlocks(&diags)
		if c.PKCS11 == nil {
			diags.Add("pkcs11", "the pkcs11 backend needs a pkcs11 block",
				"give the token's module, token_label and pin_file in a pkcs11 { ... } block")
		} else {
			c.PKCS11.check(&diags)
		}
	default:
		diags.Add("backend", fmt.Sprintf("unknown backend %q", c.Backend),
			fmt.Sprintf("want %q, %q or %q", backendManaged, backendFile, backendPKCS11))
	}
	return diags
}

func (c config) refuseAuthorityBlocks(diags *sdk.Diagnostics) {
	if len(c.Authority) > 0 {
		diags.Add("authority", "authority blocks are only used by the file backend",
			`set backend = "file" to sign with your own CA files, or remove the authority blocks`)
	}
}

func (c config) refusePKCS11Block(diags *sdk.Diagnostics) {
	if c.PKCS11 != nil {
		diags.Add("pkcs11", "the pkcs11 block is only used by the pkcs11 backend",
			`set backend = "pkcs11" to keep the keys in a PKCS#11 token, or remove the pkcs11 block`)
	}
}

// check reports the pkcs11 block's problems that need no file access.
func (p pkcs11Config) check(diags *sdk.Diagnostics) {
	switch {
	case p.Module == "":
		diags.Add("pkcs11.module", "module is required", "give the path of the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so")
	case !filepath.IsAbs(p.Module):
		diags.Add("pkcs11.module", fmt.Sprintf("module %q is not an absolute path", p.Module), "give the full path of the token's PKCS#11 library")
	}
	if p.TokenLabel == "" {
		diags.Add("pkcs11.token_label", "token_label is required", "give the label the token was initialised with")
	}
	if p.PINFile == "" {
		diags.Add("pkcs11.pin_file", "pin_file is required", "give the path of a file, mode 0600, holding the token's user PIN")
	}
	switch p.KeyAlgorithm {
	case algECDSAP256, algRSA2048:
	default:
		diags.Add("pkcs11.key_algorithm", fmt.Sprintf("unknown key algorithm %q for the pkcs11 backend", p.KeyAlgorithm),
			fmt.Sprintf("want %q or %q", algECDSAP256, algRSA2048))
	}
}
