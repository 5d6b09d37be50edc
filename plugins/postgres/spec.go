package postgres

import (
	"encoding/binary"

	"github.com/keyway-dev/keyway/sdk"
)

// preamble is an 8-byte startup packet of a fixed code: its length and
// the code, as the proxy matches it.
// keyTagOffset is where a CancelRequest carries the route tag: the start
// of the secret, after the length, the code and the process id.
const keyTagOffset = 12

// cancelRequest is the CancelRequest preamble, routed by the tag in the
// key the plugin issued (cancels.register).
func cancelRequest() sdk.Preamble {
	p := preamble("CancelRequest", 16, codeCancelRequest, sdk.PreambleOutOfBand, "")
	p.KeyTagOffset = keyTagOffset
	return p
}

func preamble(name string, length uint32, code uint32, action sdk.PreambleAction, reply string) sdk.Preamble {
	match := binary.BigEndian.AppendUint32(nil, length)
	match = binary.BigEndian.AppendUint32(match, code)
	p := sdk.Preamble{Name: name, Match: match, Action: action}
	if reply != "" {
		p.Reply = []byte(reply)
	}
	if length > 8 {
		p.Length = int(length)
	}
	return p
}

// Spec declares how PostgreSQL clients reach the proxy: on its shared
// port, asking for TLS with an SSLRequest (a GSSENCRequest is declined
// first), cancelling with a CancelRequest outside any session, or, when
// they do not ask for TLS, with a plaintext StartupMessage of protocol
// 3.0, which the plugin refuses in words. It also says how keyway db
// connect runs psql.
func (*Plugin) Spec() sdk.ProtocolSpec {
	return sdk.ProtocolSpec{
		Names: []string{"postgres"},
		Preambles: []sdk.Preamble{
			preamble("SSLRequest", 8, codeSSLRequest, sdk.PreambleTLS, "S"),
			preamble("GSSENCRequest", 8, codeGSSENCRequest, sdk.PreambleAnswer, "N"),
			cancelRequest(),
			{
				// A StartupMessage is shorter than 16 MiB and names
				// protocol 3.0 after its length.
				Name:   "StartupMessage",
				Match:  []byte{0, 0, 0, 0, 0, 3, 0, 0},
				Mask:   []byte{0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff},
				Action: sdk.PreamblePlaintext,
			},
		},
		Client: sdk.ClientSpec{
			Command: "psql",
			Args:    []string{connString},
			Env: map[string]string{
				"PGHOST": "{{.Host}}", "PGPORT": "{{.Port}}",
				"PGSSLMODE":     "{{if .CertFile}}verify-full{{else}}disable{{end}}",
				"PGSSLROOTCERT": "{{.CAFile}}", "PGSSLCERT": "{{.CertFile}}", "PGSSLKEY": "{{.KeyFile}}",
				"PGUSER": "{{.DBUser}}", "PGDATABASE": "{{.DBName}}",
			},
			Config:  clientConfig,
			Install: "apt-get install postgresql-client",
		},
	}
}

// connString is psql's connection string: every proxy of the cluster,
// tried in order, each one's certificate checked for its own name.
const connString = `host={{join .Hosts ","}} port={{join .Ports ","}} ` +
	`{{if .CertFile}}sslmode=verify-full sslrootcert={{.CAFile}} sslcert={{.CertFile}} sslkey={{.KeyFile}}{{else}}sslmode=disable{{end}} ` +
	`user={{.DBUser}}{{if .DBName}} dbname={{.DBName}}{{end}}`

// clientConfig is what keyway db config prints for GUI tools and DSNs.
const clientConfig = `Host:          {{.Host}}
Port:          {{.Port}}
User:          {{.DBUser}}
Database:      {{if .DBName}}{{.DBName}}{{else}}{{.DBUser}} (the database user's name){{end}}
{{- if .CertFile}}
SSL mode:      verify-full
CA:            {{.CAFile}}
Certificate:   {{.CertFile}}
Key:           {{.KeyFile}}
DSN:           postgres://{{.DBUser}}@{{.Host}}:{{.Port}}/{{.DBName}}?sslmode=verify-full&sslrootcert={{.CAFile}}&sslcert={{.CertFile}}&sslkey={{.KeyFile}}
{{- else}}
SSL mode:      disable (keyway proxy db encrypts the way to the proxy)
DSN:           postgres://{{.DBUser}}@{{.Host}}:{{.Port}}/{{.DBName}}?sslmode=disable
{{- end}}
`
