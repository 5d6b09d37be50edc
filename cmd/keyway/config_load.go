package main

import (
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/keyway-dev/keyway/core/config"
)

// loadConfig reads path and prints any diagnostics with their source
// lines.
func loadConfig(path string, stderr io.Writer) (*config.Config, *config.Parser, error) {
	p := config.NewParser()
	cfg, diags := p.Load(path, builtinNames())
	if len(diags) > 0 {
		printDiags(stderr, p, diags)
	}
	if diags.HasErrors() {
		return nil, nil, errReported
	}
	return cfg, p, nil
}

func printDiags(w io.Writer, p *config.Parser, diags hcl.Diagnostics) {
	_ = config.WriteDiagnostics(w, p.Files(), diags)
}
