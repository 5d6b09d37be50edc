package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/supervisor"
)

// reportStartError prints every error of a failed plugin start: HCL
// diagnostics with their source lines, the rest as plain lines.
func reportStartError(w io.Writer, p *config.Parser, err error) error {
	for _, e := range leafErrors(err) {
		var ce *supervisor.ConfigError
		if errors.As(e, &ce) {
			printDiags(w, p, ce.Diags)
			continue
		}
		fmt.Fprintln(w, "error:", e)
	}
	return errReported
}

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}
