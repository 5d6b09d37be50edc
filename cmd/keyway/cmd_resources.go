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
		Short: "Create or replace the roles and db resources in an HCL file",
		Long: `Create or replace roles and db resources. A file holds role and db blocks:

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

  db "orders" {
    description  = "the shop's orders"             # optional
    protocol     = "postgres"
    uri          = "orders.internal:5432"
    labels       = { env = "dev" }
    ca_cert_file = "/etc/keyway/orders-ca.pem"      # optional; or trust_system_cert_pool = true
    mode         = "verify-full"                    # optional; or verify-ca
    server_name  = "orders.internal"                # optional
    pool {                                          # optional: reuse server connections
      mode         = "session"
      max_idle     = 20                             # optional
      idle_timeout = "5m"                           # optional
    }
  }

A db is served by every agent whose db block has a resources selector
matching its labels (resources { labels = { env = "dev" } }), without a
change to the agent's configuration. ca_cert_file is read here and its
certificates are stored with the db. A pool block means what it means in
an agent's database block.

Mistakes are refused with their file, line and column. An existing role or
db of the same name is replaced. Changes apply at once, without a restart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := config.NewParser()
			set, diags := p.LoadResources(file)
			if diags.HasErrors() {
				printDiags(cmd.ErrOrStderr(), p, diags)
				return errReported
			}
			if len(set.Roles)+len(set.Databases) == 0 {
				return fmt.Errorf("%s defines no role and no db", file)
			}
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			for _, r := range set.Roles {
				if err := c.PutRole(cmd.Context(), r); err != nil {
					return fmt.Errorf("saving role %s: %w", r.Name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "role %s saved\n", r.Name)
			}
			for _, db := range set.Databases {
				if err := c.PutDatabase(cmd.Context(), db); err != nil {
					return fmt.Errorf("saving db %s: %w", db.Name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "db %s saved\n", db.Name)
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVarP(&file, "file", "f", "", "resource file (HCL)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// resourceKind reads a kind as written on the command line: roles or
// dbs, singular or plural.
func resourceKind(s string) (string, bool) {
	switch s {
	case "role", "roles":
		return "role", true
	case "db", "dbs", "database", "databases":
		return "db", true
	}
	return "", false
}

func newGetCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "get roles|dbs [NAME]",
		Short: "Show roles or db resources as JSON",
		Long: `Show roles or db resources as JSON, one object each. db resources are the
databases registered with keyway create -f; keyway db ls shows every
database users can reach, with its health.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, ok := resourceKind(args[0])
			if !ok {
				return fmt.Errorf("keyway get knows roles and dbs, not %q", args[0])
			}
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			var items []any
			var names []string
			if kind == "role" {
				roles, err := c.Roles(cmd.Context())
				if err != nil {
					return err
				}
				for _, r := range roles {
					items, names = append(items, r), append(names, r.Name)
				}
			} else {
				dbs, err := c.Databases(cmd.Context())
				if err != nil {
					return err
				}
				for _, db := range dbs {
					items, names = append(items, db), append(names, db.Name)
				}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			shown := 0
			for i, item := range items {
				if len(args) == 2 && names[i] != args[1] {
					continue
				}
				if err := enc.Encode(item); err != nil {
					return err
				}
				shown++
			}
			if len(args) == 2 && shown == 0 {
				return fmt.Errorf("no %s named %s", kind, args[1])
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
		Use:   "rm role/NAME|db/NAME|agent/NAME",
		Short: "Delete a role, a db resource or a joined agent's name",
		Long: `Delete a role (role/NAME) or a db resource (db/NAME). Agents stop serving a
removed db at once; new connections to it are refused with SQLSTATE 3D000.

agent/NAME frees the host name of a joined agent that is gone, so that a new
agent may join under it; the old agent's certificate stays valid until it
expires.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, name, ok := strings.Cut(args[0], "/")
			kind, known := resourceKind(k)
			if k == "agent" {
				kind, known = "agent", true
			}
			if !ok || !known || name == "" {
				return fmt.Errorf("give the resource as role/NAME, db/NAME or agent/NAME, not %q", args[0])
			}
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			switch kind {
			case "role":
				err = c.RemoveRole(cmd.Context(), name)
			case "agent":
				err = c.RemoveAgent(cmd.Context(), name)
			default:
				err = c.RemoveDatabase(cmd.Context(), name)
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s deleted\n", kind, name)
			return err
		},
	}
	configFlag(cmd, &path)
	return cmd
}
