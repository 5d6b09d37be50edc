package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/supervisor"
	cavault "github.com/keyway-dev/keyway/plugins/ca-vault"
	"github.com/keyway-dev/keyway/plugins/postgres"
	rbacopa "github.com/keyway-dev/keyway/plugins/rbac-opa"
	"github.com/keyway-dev/keyway/sdk"
)

// servePluginCmd is the hidden subcommand under which the binary serves
// one of its built-in plugins.
const servePluginCmd = "serve-plugin"

// builtinPlugins returns the plugins compiled into this binary, by name.
// This is the one place that registers them.
func builtinPlugins() map[string]func() sdk.Plugin {
	return map[string]func() sdk.Plugin{
		"ca-vault": cavault.New,
		"postgres": postgres.New,
		"rbac-opa": rbacopa.New,
	}
}

// builtins tells the supervisor how to launch the built-in plugins.
func builtins() (supervisor.Builtins, error) {
	self, err := os.Executable()
	if err != nil {
		return supervisor.Builtins{}, fmt.Errorf("finding the keyway executable: %w", err)
	}
	names := make([]string, 0, len(builtinPlugins()))
	for name := range builtinPlugins() {
		names = append(names, name)
	}
	slices.Sort(names)
	return supervisor.Builtins{
		Path:  self,
		Names: names,
		Args:  func(name string) []string { return []string{servePluginCmd, name} },
	}, nil
}

func builtinNames() []string {
	b, _ := builtins()
	return b.Names
}

func newServePluginCmd() *cobra.Command {
	return &cobra.Command{
		Use:    servePluginCmd + " NAME",
		Short:  "Serve a built-in plugin (run by keyway itself)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			factory, ok := builtinPlugins()[args[0]]
			if !ok {
				return fmt.Errorf("no built-in plugin named %q", args[0])
			}
			sdk.Serve(factory())
			return nil
		},
	}
}
