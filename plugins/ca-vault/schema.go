package cavault

import "github.com/keyway-dev/keyway/sdk"

// schema describes config for the host.
func schema() sdk.Schema {
	return sdk.Schema{
		Attributes: []sdk.Attribute{
			{Name: "backend", Type: sdk.TypeString, Description: `Where the authorities' keys live: "managed" (default; generated and kept under the data directory, rotatable), "file" (the operator's CA certificates and keys) or "pkcs11" (generated and kept in a PKCS#11 token, rotatable).`},
			{Name: "key_algorithm", Type: sdk.TypeString, Description: `Key type of newly generated authorities, managed backend only: "ecdsa-p256" (default), "rsa-2048" or "rsa-4096".`},
		},
		Blocks: []sdk.Block{
			{
				Name:        "authority",
				Repeated:    true,
				Description: "File backend only: one block for each of the four authorities.",
				Body: sdk.Schema{Attributes: []sdk.Attribute{
					{Name: "type", Type: sdk.TypeString, Required: true, Description: "user, host, db or db-client."},
					{Name: "cert_file", Type: sdk.TypeString, Required: true, Description: "PEM file with the CA certificate first, then any parents."},
					{Name: "key_file", Type: sdk.TypeString, Required: true, Description: "PEM file with the CA's unencrypted private key."},
				}},
			},
			{
				Name:        "pkcs11",
				Description: "PKCS#11 backend only: the token that generates and keeps the authorities' keys.",
				Body: sdk.Schema{Attributes: []sdk.Attribute{
					{Name: "module", Type: sdk.TypeString, Required: true, Description: "Absolute path of the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so."},
					{Name: "token_label", Type: sdk.TypeString, Required: true, Description: "Label of the token to use."},
					{Name: "pin_file", Type: sdk.TypeString, Required: true, Description: "File holding the token's user PIN on one line; must not be readable by group or others."},
					{Name: "key_algorithm", Type: sdk.TypeString, Description: `Key type of keys generated in the token: "ecdsa-p256" (default) or "rsa-2048".`},
				}},
			},
		},
	}
}
