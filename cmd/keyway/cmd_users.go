package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
)

func newUsersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users"}
	var path string
	var roles, dbUsers, dbNames []string
	var inviteTTL time.Duration
	add := &cobra.Command{
		Use:   "add NAME --roles=ROLES [--db-users=USERS] [--db-names=NAMES]",
		Short: "Create a user and print a one-time invite",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			inv, err := c.AddUser(cmd.Context(), admin.UserRequest{Name: args[0], Roles: roles, DBUsers: dbUsers, DBNames: dbNames, InviteTTL: inviteTTL})
			if err != nil {
				return err
			}
			proxy := "PROXY:PORT"
			if cfg.Proxy != nil {
				proxy = cfg.Proxy.PublicAddr
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "user %s created with roles %s.\nInvite (one use, until %s):\n\n  %s\n\nGive it to %s privately. At the first login they choose a password:\n  keyway login --proxy=%s --user=%s\n",
				args[0], strings.Join(roles, ","), inv.Expires.Local().Format(time.RFC3339), inv.Invite, args[0], proxy, args[0])
			return err
		},
	}
	configFlag(add, &path)
	add.Flags().StringSliceVar(&roles, "roles", nil, "roles, comma separated")
	add.Flags().StringSliceVar(&dbUsers, "db-users", nil, "database users the user may use (trait for {{internal.db_users}})")
	add.Flags().StringSliceVar(&dbNames, "db-names", nil, "logical databases the user may use (trait for {{internal.db_names}})")
	add.Flags().DurationVar(&inviteTTL, "invite-ttl", 24*time.Hour, "how long the invite can be redeemed")

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			users, err := c.Users(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLES\tDB USERS\tDB NAMES\tSTATE")
			for _, u := range users {
				state := "active"
				switch {
				case time.Now().Before(u.LockedUntil):
					state = "locked until " + u.LockedUntil.Local().Format(time.RFC3339)
				case u.PasswordHash == "":
					state = "invited"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, strings.Join(u.Roles, ","), strings.Join(u.DBUsers, ","), strings.Join(u.DBNames, ","), state)
			}
			return tw.Flush()
		},
	}
	configFlag(ls, &path)

	var uRoles, uUsers, uNames []string
	update := &cobra.Command{
		Use:   "update NAME [--roles=...] [--db-users=...] [--db-names=...]",
		Short: "Change a user's roles and traits (takes effect at their next login)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			req := admin.UserRequest{Name: args[0]}
			if cmd.Flags().Changed("roles") {
				req.Roles = nonNilSlice(uRoles)
			}
			if cmd.Flags().Changed("db-users") {
				req.DBUsers = nonNilSlice(uUsers)
			}
			if cmd.Flags().Changed("db-names") {
				req.DBNames = nonNilSlice(uNames)
			}
			u, err := c.UpdateUser(cmd.Context(), req)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "updated %s: roles %s, db users %s, db names %s\n", u.Name, strings.Join(u.Roles, ","), strings.Join(u.DBUsers, ","), strings.Join(u.DBNames, ","))
			return err
		},
	}
	configFlag(update, &path)
	update.Flags().StringSliceVar(&uRoles, "roles", nil, "roles, comma separated")
	update.Flags().StringSliceVar(&uUsers, "db-users", nil, "database users")
	update.Flags().StringSliceVar(&uNames, "db-names", nil, "logical databases")

	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			if err := c.RemoveUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted user %s\n", args[0])
			return err
		},
	}
	configFlag(rm, &path)
	cmd.AddCommand(add, ls, update, rm)
	return cmd
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
