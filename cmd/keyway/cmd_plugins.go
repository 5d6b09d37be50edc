package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/server"
	"github.com/keyway-dev/keyway/core/supervisor"
)

func newPluginsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "Inspect keyway's plugins",
	}
	cmd.AddCommand(newPluginsLsCmd())
	return cmd
}

func newPluginsLsCmd() *cobra.Command {
	var path, format string
	cmd := &cobra.Command{
		Use:   "ls -c FILE",
		Short: "List plugins: name, kind, version, built-in or external, state",
		Long: `List the plugins of the keyway that runs with this configuration, asking
it over its admin socket. When none runs, the plugins are launched just long
enough to report who they are and to check their configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format must be text or json, not %q", format)
			}
			cfg, p, err := loadConfig(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			c := admin.NewClient(admin.SocketPath(cfg.DataDir))
			rows, err := c.Plugins(ctx)
			_ = c.Close()
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "keyway is not running with %s; launching its plugins to list them\n", path)
				if rows, err = probePlugins(ctx, cfg); err != nil {
					return reportStartError(cmd.ErrOrStderr(), p, err)
				}
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			return printPlugins(cmd.OutOrStdout(), rows)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "/etc/keyway.hcl", "configuration file")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// probePlugins launches and configures every plugin, reads their status
// and stops them again.
func probePlugins(ctx context.Context, cfg *config.Config) ([]admin.Plugin, error) {
	b, err := builtins()
	if err != nil {
		return nil, err
	}
	sup := supervisor.New(supervisor.Options{
		Logger:      hclog.NewNullLogger(),
		ClusterName: cfg.ClusterName,
		DataDir:     cfg.DataDir,
	})
	if err := sup.Start(ctx, server.Specs(cfg, b)); err != nil {
		return nil, err
	}
	defer sup.Stop()
	var rows []admin.Plugin
	for _, st := range sup.Status() {
		st.State, st.PID = "not running", 0
		rows = append(rows, admin.Plugin{Status: st})
	}
	return rows, nil
}

func printPlugins(w io.Writer, rows []admin.Plugin) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tAPI\tSOURCE\tSTATE\tPID\tRESTARTS\tSESSIONS\tBYTES IN/OUT")
	for _, r := range rows {
		source := "external"
		if r.Builtin {
			source = "built-in"
		}
		pid := "-"
		if r.PID != 0 {
			pid = strconv.Itoa(r.PID)
		}
		sessions, bytes := "-", "-"
		if r.Sessions != nil {
			sessions = fmt.Sprintf("%d (%d active)", *r.Sessions, *r.SessionsActive)
			bytes = fmt.Sprintf("%d/%d", *r.BytesFromClient, *r.BytesToClient)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\tv%d\t%s\t%s\t%s\t%d\t%s\t%s\n",
			r.Name, r.Kind, r.Version, r.APIVersion, source, r.State, pid, r.Restarts, sessions, bytes)
		if r.LastError != "" && r.State != supervisor.StateRunning {
			fmt.Fprintf(tw, "  last error: %s\n", r.LastError)
		}
	}
	return tw.Flush()
}
