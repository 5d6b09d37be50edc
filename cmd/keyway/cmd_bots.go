package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
)

func newBotsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bots", Short: "Manage bots: machine identities signed with keyway auth sign --bot"}
	var path string
	var roles, dbUsers, dbNames []string
	add := &cobra.Command{
		Use:   "add NAME --roles=ROLES [--db-users=USERS] [--db-names=NAMES]",
		Short: "Store a bot, whose identity files keyway auth sign --bot=NAME signs",
		Long: `Store a bot: its roles and traits are what keyway auth sign --bot=NAME
puts in its certificates (the command may narrow them, never widen). A bot
has no password and never logs in.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			b, err := c.AddBot(cmd.Context(), admin.BotRequest{Name: args[0], Roles: roles, DBUsers: dbUsers, DBNames: dbNames})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "bot %s created with roles %s.\nSign its identity with: keyway auth sign --bot=%s --out=%s.id\n", b.Name, strings.Join(b.Roles, ","), b.Name, b.Name)
			return err
		},
	}
	configFlag(add, &path)
	add.Flags().StringSliceVar(&roles, "roles", nil, "roles, comma separated")
	add.Flags().StringSliceVar(&dbUsers, "db-users", nil, "database users the bot may use (trait for {{internal.db_users}})")
	add.Flags().StringSliceVar(&dbNames, "db-names", nil, "logical databases the bot may use (trait for {{internal.db_names}})")

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List bots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			bots, err := c.Bots(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLES\tDB USERS\tDB NAMES\tCREATED")
			for _, b := range bots {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Name, strings.Join(b.Roles, ","), strings.Join(b.DBUsers, ","), strings.Join(b.DBNames, ","), b.Created.Local().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	configFlag(ls, &path)
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a bot; certificates signed for it stay valid until they expire",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			if err := c.RemoveBot(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted bot %s\n", args[0])
			return err
		},
	}
	configFlag(rm, &path)
	cmd.AddCommand(add, ls, rm)
	return cmd
}
