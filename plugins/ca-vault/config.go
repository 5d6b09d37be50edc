package cavault

import (
	"fmt"

	"github.com/keyway-dev/keyway/sdk"
)

// Backend and key algorithm names accepted in the configuration.
const (
	backendManaged = "managed"
	backendFile    = "file"

	algECDSAP256 = "ecdsa-p256"
	algRSA2048   = "rsa-2048"
	algRSA4096   = "rsa-4096"
)

// config is the plugin's configuration block.
type config struct {
	Backend      string            `json:"backend"`
	KeyAlgorithm string            `json:"key_algorithm"`
	Authority    []authorityConfig `json:"authority"`
}

// authorityConfig is one authority block of the file backend.
type authorityConfig struct {
	Type     string `json:"type"`
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// schema describes config for the host.
func schema() sdk.Schema {
	return sdk.Schema{
		Attributes: []sdk.Attribute{
			{Name: "backend", Type: sdk.TypeString, Description: `Where the authorities' keys live: "managed" (default; generated and kept under the data directory, rotatable) or "file" (the operator's CA certificates and keys).`},
			{Name: "key_algorithm", Type: sdk.TypeString, Description: `Key type of newly generated authorities, managed backend only: "ecdsa-p256" (default), "rsa-2048" or "rsa-4096".`},
		},
		Blocks: []sdk.Block{{
			Name:        "authority",
			Repeated:    true,
			Description: "File backend only: one block for each of the four authorities.",
			Body: sdk.Schema{Attributes: []sdk.Attribute{
				{Name: "type", Type: sdk.TypeString, Required: true, Description: "user, host, db or db-client."},
				{Name: "cert_file", Type: sdk.TypeString, Required: true, Description: "PEM file with the CA certificate first, then any parents."},
				{Name: "key_file", Type: sdk.TypeString, Required: true, Description: "PEM file with the CA's unencrypted private key."},
			}},
		}},
	}
}

// withDefaults fills in the defaults of unset attributes.
func (c config) withDefaults() config {
	if c.Backend == "" {
		c.Backend = backendManaged
	}
	if c.KeyAlgorithm == "" && c.Backend == backendManaged {
		c.KeyAlgorithm = algECDSAP256
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
		if len(c.Authority) > 0 {
			diags.Add("authority", "authority blocks are only used by the file backend",
				`set backend = "file" to sign with your own CA files, or remove the authority blocks`)
		}
	case backendFile:
		if c.KeyAlgorithm != "" {
			diags.Add("key_algorithm", "key_algorithm is only used by the managed backend",
				"the file backend signs with the keys in key_file")
		}
	default:
		diags.Add("backend", fmt.Sprintf("unknown backend %q", c.Backend),
			fmt.Sprintf("want %q or %q", backendManaged, backendFile))
	}
	return diags
}
