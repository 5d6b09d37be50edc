package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with configuration files",
	}
	cmd.AddCommand(newConfigValidateCmd())
	return cmd
}

func newConfigValidateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate -c FILE",
		Short: "Check a configuration file, including every plugin's own block",
		Long: `Check a configuration file. Beyond the file's own syntax and schema, each
plugin is launched and its block is validated against the schema the
plugin reports and by the plugin itself, exactly as keyway start does.
Problems are printed with their file, line and column.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, p, err := loadConfig(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			rows, err := probePlugins(ctx, cfg)
			if err != nil {
				return reportStartError(cmd.ErrOrStderr(), p, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s is valid (%d plugins configured)\n", path, len(rows))
			return err
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "/etc/keyway.hcl", "configuration file")
	return cmd
}
