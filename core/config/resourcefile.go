package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/keyway-dev/keyway/core/access"
)

// resourceFile is a file of resources for keyway create -f: role blocks
// and db blocks.
type resourceFile struct {
	Roles     []roleBlock `hcl:"role,block"`
	Databases []Database  `hcl:"db,block"`
}

// ResourceSet is what a resource file defines.
type ResourceSet struct {
	Roles     []access.Role
	Databases []Database
}

type roleBlock struct {
	Name      string            `hcl:"name,label"`
	SpiffeIDs []string          `hcl:"spiffe_ids,optional"`
	Allow     *ruleBlock        `hcl:"allow,block"`
	Deny      *ruleBlock        `hcl:"deny,block"`
	Options   *roleOptionsBlock `hcl:"options,block"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// roleOptionsBlock limits the sessions of a role's holders.
type roleOptionsBlock struct {
	// IdleTimeout ends a session after this long without client
	// traffic, such as "15m".
	IdleTimeout string `hcl:"idle_timeout,optional"`
	// MaxSessionTTL caps the lifetime of the certificates signed for
	// the role's holders, such as "8h".
	MaxSessionTTL string `hcl:"max_session_ttl,optional"`
	// MaxConnections caps a holder's sessions at once through a proxy.
	MaxConnections *int `hcl:"max_connections,optional"`

	DeclRange hcl.Range `hcl:",def_range"`
}

type ruleBlock struct {
	DBLabels map[string][]string `hcl:"db_labels,optional"`
	DBUsers  []string            `hcl:"db_users,optional"`
	DBNames  []string            `hcl:"db_names,optional"`
	Admin    bool                `hcl:"admin,optional"`

	Body hcl.Body `hcl:",remain"`
}

// LoadResources parses a file of role and db blocks. Mistakes are
// reported with their positions: unknown attributes, wrong types, bad
// names, label patterns that are not valid regular expressions, a db's
// broken rules, a CA file that cannot be read. A db block's ca_cert_file
// is read here, relative to the working directory, into CACertPEM.
func (p *Parser) LoadResources(path string) (ResourceSet, hcl.Diagnostics) {
	f, diags := p.p.ParseHCLFile(path)
	if diags.HasErrors() {
		return ResourceSet{}, diags
	}
	var rf resourceFile
	diags = append(diags, gohcl.DecodeBody(f.Body, nil, &rf)...)
	if diags.HasErrors() {
		return ResourceSet{}, diags
	}
	var out ResourceSet
	roles, ds := loadRoles(rf.Roles)
	diags, out.Roles = append(diags, ds...), roles
	seen := map[string]hcl.Range{}
	for _, db := range rf.Databases {
		if prev, dup := seen[db.Name]; dup {
			diags = append(diags, errorAt(db.DeclRange, "Duplicate db", fmt.Sprintf("db %q is already defined at %s.", db.Name, prev)))
		}
		seen[db.Name] = db.DeclRange
		db, ds := checkDBResource(f.Body, db)
		diags = append(diags, ds...)
		out.Databases = append(out.Databases, db)
	}
	if diags.HasErrors() {
		return ResourceSet{}, diags
	}
	return out, diags
}

// checkDBResource applies the rules of a database definition to a db
// block, pointing at the attribute at fault, and reads its CA file.
func checkDBResource(body hcl.Body, db Database) (Database, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	at := func(attr string) hcl.Range {
		if attr == "" {
			return db.DeclRange
		}
		return blockAttrRange(body, "db", db.Name, attr, db.DeclRange)
	}
	for _, p := range databaseProblems(db, nil) {
		diags = append(diags, errorAt(at(p.attr), p.summary, p.detail))
	}
	if db.CACertFile != "" {
		b, err := os.ReadFile(db.CACertFile)
		if err == nil {
			err = checkCAPEM(b)
		}
		if err != nil {
			diags = append(diags, errorAt(at("ca_cert_file"), "Unusable CA file",
				fmt.Sprintf("db %q: ca_cert_file %s: %v. The file is read here, by keyway create, and its certificates are stored with the db.", db.Name, db.CACertFile, err)))
		}
		db.CACertPEM = string(b)
	}
	return db, diags
}

// loadRoles checks role blocks and turns them into roles.
func loadRoles(blocks []roleBlock) ([]access.Role, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []access.Role
	for _, rb := range blocks {
		if !namePattern.MatchString(rb.Name) {
			diags = append(diags, errorAt(rb.DeclRange, "Invalid role name",
				fmt.Sprintf("%q is not a valid role name: use lower-case letters, digits, '-' and '_', starting with a letter.", rb.Name)))
		}
		if rb.Allow == nil && rb.Deny == nil {
			diags = append(diags, errorAt(rb.DeclRange, "Empty role", fmt.Sprintf("Role %q has neither an allow nor a deny block.", rb.Name)))
		}
		r := access.Role{Name: rb.Name, SpiffeIDs: rb.SpiffeIDs}
		if o := rb.Options; o != nil {
			r.Options = access.RoleOptions{IdleTimeout: o.IdleTimeout, MaxSessionTTL: o.MaxSessionTTL}
			if o.MaxConnections != nil {
				if *o.MaxConnections < 1 {
					diags = append(diags, errorAt(o.DeclRange, "Invalid max_connections",
						fmt.Sprintf("Role %q: max_connections = %d; give at least 1, or leave it out for no limit.", rb.Name, *o.MaxConnections)))
				}
				r.Options.MaxConnections = *o.MaxConnections
			}
			for _, opt := range []struct{ name, value, example string }{
				{"idle_timeout", o.IdleTimeout, "15m"}, {"max_session_ttl", o.MaxSessionTTL, "8h"},
			} {
				if d, err := time.ParseDuration(opt.value); opt.value != "" && (err != nil || d <= 0) {
					diags = append(diags, errorAt(o.DeclRange, "Invalid "+opt.name,
						fmt.Sprintf("Role %q: %s = %q is not a positive duration such as %s.", rb.Name, opt.name, opt.value, opt.example)))
				}
			}
		}
		for _, side := range []struct {
			rule *ruleBlock
			into *access.Rule
		}{{rb.Allow, &r.Allow}, {rb.Deny, &r.Deny}} {
			if side.rule == nil {
				continue
			}
			if extra, _ := side.rule.Body.JustAttributes(); len(extra) > 0 {
				for name, a := range extra {
					diags = append(diags, errorAt(a.NameRange, "Unsupported argument", fmt.Sprintf("An argument named %q is not expected in a rule; use db_labels, db_users, db_names or admin.", name)))
				}
			}
			diags = append(diags, checkPatterns(rb, side.rule)...)
			*side.into = access.Rule{DBLabels: side.rule.DBLabels, DBUsers: side.rule.DBUsers, DBNames: side.rule.DBNames, Admin: side.rule.Admin}
		}
		out = append(out, r)
	}
	return out, diags
}

// checkPatterns compiles the regular expressions among label patterns.
func checkPatterns(rb roleBlock, rule *ruleBlock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for label, pats := range rule.DBLabels {
		for _, pat := range pats {
			if strings.HasPrefix(pat, "^") && strings.HasSuffix(pat, "$") {
				if _, err := regexp.Compile(pat); err != nil {
					diags = append(diags, errorAt(rb.DeclRange, "Invalid label pattern",
						fmt.Sprintf("Role %q, label %q: %q is not a valid regular expression: %v.", rb.Name, label, pat, err)))
				}
			}
		}
	}
	return diags
}
