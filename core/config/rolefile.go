package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/keyway-dev/keyway/core/access"
)

// roleFile is a file of role blocks for keyway create -f.
type roleFile struct {
	Roles []roleBlock `hcl:"role,block"`
}

type roleBlock struct {
	Name      string     `hcl:"name,label"`
	SpiffeIDs []string   `hcl:"spiffe_ids,optional"`
	Allow     *ruleBlock `hcl:"allow,block"`
	Deny      *ruleBlock `hcl:"deny,block"`

	DeclRange hcl.Range `hcl:",def_range"`
}

type ruleBlock struct {
	DBLabels map[string][]string `hcl:"db_labels,optional"`
	DBUsers  []string            `hcl:"db_users,optional"`
	DBNames  []string            `hcl:"db_names,optional"`
	Admin    bool                `hcl:"admin,optional"`

	Body hcl.Body `hcl:",remain"`
}

// LoadRoles parses a file of role blocks. Mistakes are reported with
// their positions: unknown attributes, wrong types, bad names, label
// patterns that are not valid regular expressions.
func (p *Parser) LoadRoles(path string) ([]access.Role, hcl.Diagnostics) {
	f, diags := p.p.ParseHCLFile(path)
	if diags.HasErrors() {
		return nil, diags
	}
	var rf roleFile
	diags = append(diags, gohcl.DecodeBody(f.Body, nil, &rf)...)
	if diags.HasErrors() {
		return nil, diags
	}
	var out []access.Role
	for _, rb := range rf.Roles {
		if !namePattern.MatchString(rb.Name) {
			diags = append(diags, errorAt(rb.DeclRange, "Invalid role name",
				fmt.Sprintf("%q is not a valid role name: use lower-case letters, digits, '-' and '_', starting with a letter.", rb.Name)))
		}
		if rb.Allow == nil && rb.Deny == nil {
			diags = append(diags, errorAt(rb.DeclRange, "Empty role", fmt.Sprintf("Role %q has neither an allow nor a deny block.", rb.Name)))
		}
		r := access.Role{Name: rb.Name, SpiffeIDs: rb.SpiffeIDs}
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
	if diags.HasErrors() {
		return nil, diags
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
