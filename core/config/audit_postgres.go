package config

import (
	"fmt"
	"net/url"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// AuditPostgres sends audit events to a PostgreSQL table instead of the
// file (docs/audit.md). Secrets come only from files: the connection URL
// may carry no password.
type AuditPostgres struct {
	// URL is a postgres:// connection URL without a password, e.g.
	// postgres://keyway@audit.example.com:5432/audit?sslmode=verify-full.
	// Without sslmode, verify-full is used.
	URL string `hcl:"url"`
	// CACertFile verifies the server's certificate (sslrootcert).
	CACertFile string `hcl:"ca_cert_file,optional"`
	// CertFile and KeyFile are a client certificate and its key, for
	// certificate authentication; the key file must be 0600 or stricter.
	CertFile string `hcl:"cert_file,optional"`
	KeyFile  string `hcl:"key_file,optional"`
	// PasswordFile holds the password on its first line; 0600 or
	// stricter.
	PasswordFile string `hcl:"password_file,optional"`
	// Table is the events' table, optionally schema-qualified; created
	// when missing. Default keyway_audit_events.
	Table string `hcl:"table,optional"`
	// QueueSize bounds the events waiting to be written; 10000 by
	// default.
	QueueSize int `hcl:"queue_size,optional"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// Defaults of the postgres block.
const (
	DefaultAuditTable     = "keyway_audit_events"
	DefaultAuditQueueSize = 10000
)

var (
	tablePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)
	// urlSecrets are connection parameters that would put a secret or a
	// file the block names itself into the URL.
	urlSecrets = map[string]string{
		"password":    "password_file",
		"sslpassword": "an unencrypted key_file",
		"sslkey":      "key_file",
		"sslcert":     "cert_file",
		"sslrootcert": "ca_cert_file",
	}
)

// fileSinkAttrs configure only the file sink.
var fileSinkAttrs = []string{"path", "fsync", "max_size_mb", "max_files"}

// checkAuditPostgres validates the audit block's postgres block; set
// reports whether the audit block has an attribute.
func (c *Config) checkAuditPostgres(body hcl.Body, set func(string) bool) hcl.Diagnostics {
	p := c.Audit.Postgres
	at := func(attr string) hcl.Range { return auditPostgresAttrRange(body, p.DeclRange, attr) }
	var diags hcl.Diagnostics
	for _, attr := range fileSinkAttrs {
		if set(attr) {
			diags = append(diags, errorAt(nestedAttrRange(body, c.Audit.DeclRange, attr), "File setting with the postgres sink",
				fmt.Sprintf("%s configures the audit file, but the postgres block sends the events to PostgreSQL instead; remove one of them.", attr)))
		}
	}
	if c.Auth == nil && c.DB != nil && c.DB.ProxyAddr != "" {
		diags = append(diags, errorAt(p.DeclRange, "Audit sink on an agent",
			"An agent sends its sessions' events through its tunnel to the auth host's audit log; configure the postgres block there."))
	}
	u, err := url.Parse(p.URL)
	switch {
	case err != nil:
		diags = append(diags, errorAt(at("url"), "Invalid audit database URL", fmt.Sprintf("url: %v.", err)))
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		diags = append(diags, errorAt(at("url"), "Invalid audit database URL",
			"url must be a postgres:// URL, e.g. postgres://keyway@audit.example.com:5432/audit?sslmode=verify-full."))
	default:
		if _, has := u.User.Password(); has {
			diags = append(diags, errorAt(at("url"), "Password in the audit database URL",
				"Secrets are never written in the configuration: put the password in a file (mode 0600) named by password_file."))
		}
		for param, instead := range urlSecrets {
			if u.Query().Has(param) {
				diags = append(diags, errorAt(at("url"), "Secret or file in the audit database URL",
					fmt.Sprintf("Remove %s from the URL and use %s instead.", param, instead)))
			}
		}
	}
	if (p.CertFile == "") != (p.KeyFile == "") {
		diags = append(diags, errorAt(at("cert_file"), "Incomplete client certificate", "Give both cert_file and key_file, or neither."))
	}
	if p.Table == "" {
		p.Table = DefaultAuditTable
	} else if !tablePattern.MatchString(p.Table) {
		diags = append(diags, errorAt(at("table"), "Invalid audit table name",
			fmt.Sprintf("table = %q: use lower-case letters, digits and '_', optionally with a schema (audit.events).", p.Table)))
	}
	switch {
	case p.QueueSize < 0 || (p.QueueSize == 0 && at("queue_size") != p.DeclRange):
		diags = append(diags, errorAt(at("queue_size"), "Invalid audit setting",
			fmt.Sprintf("queue_size = %d: use a positive number of events (default %d).", p.QueueSize, DefaultAuditQueueSize)))
	case p.QueueSize == 0:
		p.QueueSize = DefaultAuditQueueSize
	}
	return diags
}

// auditPostgresAttrRange finds attr in the postgres block declared at
// decl, inside the audit block.
func auditPostgresAttrRange(body hcl.Body, decl hcl.Range, attr string) hcl.Range {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return decl
	}
	for _, ab := range sb.Blocks {
		if ab.Type != "audit" {
			continue
		}
		for _, pb := range ab.Body.Blocks {
			if pb.Type == "postgres" && pb.DefRange().Start == decl.Start {
				if a, ok := pb.Body.Attributes[attr]; ok {
					return a.Expr.Range()
				}
			}
		}
	}
	return decl
}
