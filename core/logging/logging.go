// Package logging builds keyway's structured logger.
package logging

import (
	"io"

	"github.com/hashicorp/go-hclog"
)

// New returns the root logger. Named children (one per plugin) keep
// their own levels, so a plugin can log at debug while the core logs at
// info.
func New(level hclog.Level, out io.Writer, json bool) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:              "keyway",
		Level:             level,
		Output:            out,
		JSONFormat:        json,
		IndependentLevels: true,
	})
}
