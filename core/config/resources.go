package config

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/keyway-dev/keyway/core/access"
)

// Resources is a resources block of an agent's db block: it selects, by
// their labels, the cluster's db resources (keyway create -f) that the
// agent serves. Several blocks are alternatives; a database is served
// when one of them matches.
type Resources struct {
	// LabelsExpr is the labels attribute as written: a map from label
	// name to a pattern or a list of patterns.
	LabelsExpr hcl.Expression `hcl:"labels"`
	// Labels is LabelsExpr as read by Load.
	Labels access.LabelSelector

	DeclRange hcl.Range `hcl:",def_range"`
}

// Selectors returns the agent's label selectors, one per resources
// block; none when the agent serves only its own database blocks.
func (d *DB) Selectors() []access.LabelSelector {
	if d == nil {
		return nil
	}
	out := make([]access.LabelSelector, 0, len(d.Resources))
	for _, r := range d.Resources {
		out = append(out, r.Labels)
	}
	return out
}

// checkResources reads each resources block's labels into its selector.
func (d *DB) checkResources() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i := range d.Resources {
		sel, ds := readSelector(d.Resources[i].LabelsExpr)
		diags = append(diags, ds...)
		d.Resources[i].Labels = sel
	}
	return diags
}

// readSelector reads `labels = { env = "dev", team = ["a", "b*"] }`.
// Each value is a pattern or a list of patterns with the meaning of a
// role's db_labels; regular expressions must compile.
func readSelector(expr hcl.Expression) (access.LabelSelector, hcl.Diagnostics) {
	type item struct {
		key   string
		value cty.Value
		rng   hcl.Range
	}
	var items []item
	var diags hcl.Diagnostics
	if oc, ok := expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, it := range oc.Items {
			k, ds := it.KeyExpr.Value(nil)
			diags = append(diags, ds...)
			v, ds := it.ValueExpr.Value(nil)
			diags = append(diags, ds...)
			if ds.HasErrors() || diags.HasErrors() {
				continue
			}
			if k.IsNull() || !k.IsKnown() || k.Type() != cty.String {
				diags = append(diags, errorAt(it.KeyExpr.Range(), "Invalid label name", "A label name must be a string."))
				continue
			}
			items = append(items, item{key: k.AsString(), value: v, rng: it.ValueExpr.Range()})
		}
	} else {
		v, ds := expr.Value(nil)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			return nil, diags
		}
		if v.IsNull() {
			return nil, append(diags, errorAt(expr.Range(), "Missing label selector",
				`A resources block needs labels, e.g. labels = { env = "dev" }.`))
		}
		if !(v.Type().IsObjectType() || v.Type().IsMapType()) {
			return nil, append(diags, errorAt(expr.Range(), "Invalid label selector", `labels must be a map such as { env = "dev" } or { env = ["dev", "stag*"] }.`))
		}
		for k, e := range v.AsValueMap() {
			items = append(items, item{key: k, value: e, rng: expr.Range()})
		}
		sort.Slice(items, func(i, j int) bool { return items[i].key < items[j].key })
	}
	if diags.HasErrors() {
		return nil, diags
	}
	if len(items) == 0 {
		return nil, append(diags, errorAt(expr.Range(), "Empty label selector",
			`An empty selector matches no database; name at least one label, or use { "*" = "*" } to serve every db resource.`))
	}
	sel := access.LabelSelector{}
	for _, it := range items {
		patterns, ok := patternList(it.value)
		if !ok || len(patterns) == 0 {
			diags = append(diags, errorAt(it.rng, "Invalid label patterns",
				fmt.Sprintf("Label %q needs a pattern or a non-empty list of patterns (strings).", it.key)))
			continue
		}
		for _, p := range patterns {
			if access.IsLabelRegexp(p) {
				if _, err := regexp.Compile(p); err != nil {
					diags = append(diags, errorAt(it.rng, "Invalid label pattern",
						fmt.Sprintf("Label %q: %q is not a valid regular expression: %v.", it.key, p, err)))
				}
			}
		}
		sel[it.key] = patterns
	}
	return sel, diags
}

// patternList turns a string or a list of strings into patterns.
func patternList(v cty.Value) ([]string, bool) {
	if v.IsNull() || !v.IsKnown() {
		return nil, false
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}, true
	}
	t := v.Type()
	if !(t.IsTupleType() || t.IsListType() || t.IsSetType()) {
		return nil, false
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || !e.IsKnown() || e.Type() != cty.String {
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}
