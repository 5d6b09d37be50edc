package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
)

func newAccessCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "access", Short: "Ask what the cluster's policy decides"}
	var path string
	var req admin.CheckRequest
	check := &cobra.Command{
		Use:   "check --user=NAME --db=NAME --db-user=USER [--db-name=DB]",
		Short: "Print the decision for a user's database session, and its reasons",
		Long: `Print what the authorisation plugin decides for a user (with the roles and
traits of their record now) connecting to a database as a database user,
with the role and rule behind each reason. It is the same engine and input
as a real connection. Exit code 0 when allowed, 2 when denied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			d, err := c.CheckAccess(cmd.Context(), req)
			if err != nil {
				return err
			}
			verdict := "DENY"
			if d.Allow {
				verdict = "ALLOW"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: user %s, database %s, db user %s, db name %s\n", verdict, req.User, req.Database, req.DBUser, orDefault(req.DBName, req.DBUser))
			for _, r := range d.Reasons {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s by role %q rule %q: %s\n", r.Effect, r.Role, r.Rule, r.Message)
			}
			if !d.Allow {
				return errDenied
			}
			return nil
		},
	}
	configFlag(check, &path)
	check.Flags().StringVar(&req.User, "user", "", "user name")
	check.Flags().StringVar(&req.Database, "db", "", "database name")
	check.Flags().StringVar(&req.DBUser, "db-user", "", "database user")
	check.Flags().StringVar(&req.DBName, "db-name", "", "logical database (default: the database user)")
	cmd.AddCommand(check)
	return cmd
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
