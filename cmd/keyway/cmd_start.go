package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/logging"
	"github.com/keyway-dev/keyway/core/server"
)

func newStartCmd() *cobra.Command {
	var path, readyFile string
	var jsonLogs bool
	cmd := &cobra.Command{
		Use:   "start -c FILE",
		Short: "Run keyway with a configuration file",
		Long: `Run keyway: launch its plugins, bind the configured listeners and serve
until SIGTERM or SIGINT, then stop the plugins cleanly.

With --ready-file=PATH, keyway writes its process id to PATH once the admin
socket, the public ports and the plugins answer, and removes the file when it
stops, so a script can start keyway in the background and wait for the file
before its next command.`,
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
			opts := server.Options{Config: cfg, Builtins: b, Logger: logger, Version: version}
			if readyFile != "" {
				// A file left by an earlier run must not announce this one.
				if err := os.Remove(readyFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("--ready-file: %w", err)
				}
				opts.Ready = func() {
					if err := writeReadyFile(readyFile); err != nil {
						logger.Error("cannot write the ready file", "path", readyFile, "error", err)
					}
				}
				defer func() { _ = os.Remove(readyFile) }()
			}
			if err := server.Run(ctx, opts); err != nil {
				return reportStartError(cmd.ErrOrStderr(), p, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "/etc/keyway.hcl", "configuration file")
	cmd.Flags().BoolVar(&jsonLogs, "json-logs", false, "write logs as JSON lines")
	cmd.Flags().StringVar(&readyFile, "ready-file", "", "write keyway's process id to this file once it serves, and remove it at stop")
	return cmd
}

// writeReadyFile writes the process id to path in one rename, so that
// whoever sees the file reads it whole.
func writeReadyFile(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
