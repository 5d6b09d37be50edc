package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/logging"
	"github.com/keyway-dev/keyway/core/server"
)

func newStartCmd() *cobra.Command {
	var path string
	var jsonLogs bool
	cmd := &cobra.Command{
		Use:   "start -c FILE",
		Short: "Run keyway with a configuration file",
		Long: `Run keyway: launch its plugins, bind the configured listeners and serve
until SIGTERM or SIGINT, then stop the plugins cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, p, err := loadConfig(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			b, err := builtins()
			if err != nil {
				return err
			}
			logger := logging.New(config.Level(cfg.LogLevel), cmd.ErrOrStderr(), jsonLogs)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := server.Run(ctx, server.Options{Config: cfg, Builtins: b, Logger: logger, Version: version}); err != nil {
				return reportStartError(cmd.ErrOrStderr(), p, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "/etc/keyway.hcl", "configuration file")
	cmd.Flags().BoolVar(&jsonLogs, "json-logs", false, "write logs as JSON lines")
	return cmd
}
