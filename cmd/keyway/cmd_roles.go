package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/config"
)

func newCreateCmd() *cobra.Command {
	var path, file string
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create or replace the roles in an HCL file",
		Long: `Create or replace roles. A role file holds role blocks:

  role "dev" {
    spiffe_ids = ["spiffe://example/bot/*"]   # optional: identities that hold it
    allow {
      db_labels = { env = ["dev", "stag*"] }
      db_users  = ["app_*", "{{internal.db_users}}"]
      db_names  = ["app"]
    }
    deny {
      db_users = ["postgres"]
    }
  }

Mistakes are refused with their file, line and column. Changes apply to the
next decision, without a restart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := config.NewParser()
			roles, diags := p.LoadRoles(file)
			if diags.HasErrors() {
				printDiags(cmd.ErrOrStderr(), p, diags)
				return errReported
			}
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			for _, r := range roles {
				if err := c.PutRole(cmd.Context(), r); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "role %s saved\n", r.Name)
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVarP(&file, "file", "f", "", "role file (HCL)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func newGetCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "get roles [NAME]",
		Short: "Show roles",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "roles" && args[0] != "role" {
				return fmt.Errorf("keyway get knows roles, not %q", args[0])
			}
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			roles, err := c.Roles(cmd.Context())
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			for _, r := range roles {
				if len(args) == 2 && r.Name != args[1] {
					continue
				}
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func newRmCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "rm role/NAME",
		Short: "Delete a resource (role/NAME)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, ok := strings.Cut(args[0], "/")
			if !ok || kind != "role" || name == "" {
				return fmt.Errorf("give the resource as role/NAME, not %q", args[0])
			}
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			if err := c.RemoveRole(cmd.Context(), name); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "role %s deleted\n", name)
			return err
		},
	}
	configFlag(cmd, &path)
	return cmd
}
