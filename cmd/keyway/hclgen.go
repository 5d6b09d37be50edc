package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// writeOutput writes generated configuration to "stdout", "file" (the
// default path /etc/keyway.hcl) or a path; files get mode 0600 and are
// never overwritten silently.
func writeOutput(out string, data []byte, stdout func([]byte) error) (string, error) {
	switch out {
	case "stdout", "-":
		return "", stdout(data)
	case "file":
		out = "/etc/keyway.hcl"
	case "":
		return "", fmt.Errorf("-o is required: file, stdout or a path")
	}
	if _, err := os.Stat(out); err == nil {
		return "", fmt.Errorf("%s exists; remove it or choose another path", out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(out, data, 0o600); err != nil {
		return "", err
	}
	return out, nil
}

// mapValue turns labels into an HCL object.
func mapValue(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	vals := map[string]cty.Value{}
	for k, v := range m {
		vals[k] = cty.StringVal(v)
	}
	return cty.MapVal(vals)
}

// ctyStrings turns a map of strings into cty values, for an object
// whose keys may be any string ("*" included).
func ctyStrings(m map[string]string) map[string]cty.Value {
	out := make(map[string]cty.Value, len(m))
	for k, v := range m {
		out[k] = cty.StringVal(v)
	}
	return out
}

// parseLabels reads k=v[,k=v].
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q is not KEY=VALUE", part)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}
