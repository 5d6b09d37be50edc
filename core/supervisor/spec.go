package supervisor

import (
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
)

// Spec says how to launch one plugin.
type Spec struct {
	// Name is the plugin block's label.
	Name string
	// Builtin plugins are served by the keyway binary itself.
	Builtin bool
	// Path and Args are the executable and its arguments.
	Path string
	Args []string
	// SHA256 is the expected checksum of Path, hex; empty for built-ins.
	SHA256 string
	// Kind is the kind the plugin must report; KindUnknown accepts any.
	Kind     sdk.Kind
	LogLevel hclog.Level
	// StartTimeout bounds go-plugin's handshake; zero means the
	// supervisor's Policy.StartTimeout.
	StartTimeout time.Duration
	// Block is the plugin's configuration block, decoded against the
	// schema the plugin reports. It may be a zero Plugin.
	Block config.Plugin
}

// Builtins describes the plugins compiled into this binary and how to
// serve one: Path with Args(name).
type Builtins struct {
	Path  string
	Names []string
	Args  func(name string) []string
}

// SpecsFor returns one Spec per plugin: every built-in (configured or not)
// and every external plugin block of cfg.
func SpecsFor(cfg *config.Config, b Builtins) []Spec {
	level := func(blk *config.Plugin) hclog.Level {
		if blk != nil && blk.LogLevel != "" {
			return config.Level(blk.LogLevel)
		}
		return config.Level(cfg.LogLevel)
	}
	var specs []Spec
	for _, name := range b.Names {
		spec := Spec{Name: name, Builtin: true, Path: b.Path, Args: b.Args(name), Block: config.Plugin{Name: name}}
		blk := cfg.Plugin(name)
		if blk != nil {
			spec.Block = *blk
		}
		spec.LogLevel = level(blk)
		spec.StartTimeout = spec.Block.StartLimit()
		specs = append(specs, spec)
	}
	for _, blk := range cfg.Plugins {
		if slices.Contains(b.Names, blk.Name) {
			continue
		}
		specs = append(specs, Spec{
			Name: blk.Name, Path: blk.Command, Args: blk.Args, SHA256: blk.SHA256,
			Block: blk, LogLevel: level(&blk), StartTimeout: blk.StartLimit(),
		})
	}
	return specs
}
