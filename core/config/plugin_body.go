package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// DecodePluginConfig decodes the plugin's config block against the schema
// the plugin reported and returns it as JSON for the plugin's SetConfig.
func (p *Plugin) DecodePluginConfig(schema *pluginv1.Schema) ([]byte, hcl.Diagnostics) {
	spec, err := specFor(schema)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError, Summary: "Invalid plugin schema",
			Detail:  fmt.Sprintf("Plugin %q reported a schema keyway cannot use: %v.", p.Name, err),
			Subject: p.DeclRange.Ptr(),
		}}
	}
	body := hcl.EmptyBody()
	if p.Config != nil {
		body = p.Config.Body
	}
	val, diags := hcldec.Decode(body, spec, nil)
	for _, d := range diags {
		if d.Subject == nil || d.Subject.Filename == "" {
			d.Subject = p.DeclRange.Ptr()
			d.Detail = strings.TrimSpace(d.Detail + fmt.Sprintf(" (in the config block of plugin %q)", p.Name))
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	out, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Cannot encode plugin configuration",
			Detail: err.Error(), Subject: p.DeclRange.Ptr(),
		})
	}
	return out, diags
}

// PathRange returns the position of a dot-separated attribute path inside
// the plugin's config block, falling back to the nearest enclosing block.
func (p *Plugin) PathRange(path string) hcl.Range {
	if p.Config == nil {
		return p.DeclRange
	}
	body, ok := p.Config.Body.(*hclsyntax.Body)
	if !ok {
		return p.Config.DeclRange
	}
	rng := p.Config.DeclRange
	parts := strings.Split(path, ".")
	for i, part := range parts {
		if part == "" {
			break
		}
		if i == len(parts)-1 {
			if a, ok := body.Attributes[part]; ok {
				return a.Expr.Range()
			}
		}
		next := findBlock(body, part)
		if next == nil {
			break
		}
		rng, body = next.DefRange(), next.Body
	}
	return rng
}

func findBlock(body *hclsyntax.Body, name string) *hclsyntax.Block {
	for _, b := range body.Blocks {
		if b.Type == name {
			return b
		}
	}
	return nil
}

// attrRange returns the range of an attribute's value in body, or the
// body's missing-item range when it is absent.
func attrRange(body hcl.Body, name string) hcl.Range {
	if sb, ok := body.(*hclsyntax.Body); ok {
		if a, ok := sb.Attributes[name]; ok {
			return a.Expr.Range()
		}
	}
	return body.MissingItemRange()
}

// specFor turns a plugin's schema into an hcldec spec.
func specFor(s *pluginv1.Schema) (hcldec.ObjectSpec, error) {
	spec := hcldec.ObjectSpec{}
	for _, a := range s.GetAttributes() {
		ty, err := typeFor(a.GetType())
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.GetName(), err)
		}
		spec[a.GetName()] = &hcldec.AttrSpec{Name: a.GetName(), Type: ty, Required: a.GetRequired()}
	}
	for _, b := range s.GetBlocks() {
		if _, dup := spec[b.GetName()]; dup {
			return nil, fmt.Errorf("%q is both an attribute and a block", b.GetName())
		}
		nested, err := specFor(b.GetBody())
		if err != nil {
			return nil, fmt.Errorf("block %q: %w", b.GetName(), err)
		}
		if b.GetRepeated() {
			spec[b.GetName()] = &hcldec.BlockListSpec{TypeName: b.GetName(), Nested: nested}
		} else {
			spec[b.GetName()] = &hcldec.BlockSpec{TypeName: b.GetName(), Nested: nested}
		}
	}
	return spec, nil
}

func typeFor(name string) (cty.Type, error) {
	switch name {
	case "string":
		return cty.String, nil
	case "number":
		return cty.Number, nil
	case "bool":
		return cty.Bool, nil
	case "list(string)":
		return cty.List(cty.String), nil
	case "map(string)":
		return cty.Map(cty.String), nil
	}
	return cty.NilType, fmt.Errorf("unsupported type %q", name)
}

// blockAttrRange returns the range of attr's value inside the block
// TYPE "LABEL" of body, or fallback when it cannot be found.
func blockAttrRange(body hcl.Body, typ, label, attr string, fallback hcl.Range) hcl.Range {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return fallback
	}
	for _, b := range sb.Blocks {
		if b.Type != typ || len(b.Labels) == 0 || b.Labels[0] != label {
			continue
		}
		if a, ok := b.Body.Attributes[attr]; ok {
			return a.Expr.Range()
		}
	}
	return fallback
}
