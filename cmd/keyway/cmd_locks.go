package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/auth"
)

// newLockCmd is keyway lock: take a user's, role's, database's or
// agent's access away at once, on every proxy and agent.
func newLockCmd() *cobra.Command {
	var path, message string
	var target auth.LockTarget
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "lock --user=NAME | --role=NAME | --db=NAME | --agent=HOST [--ttl=1h] [--message=TEXT]",
		Short: "Refuse new sessions, logins and certificates of a target and end its live sessions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("ttl") && ttl <= 0 {
				return fmt.Errorf("--ttl=%s is not in the future: give a positive duration, or leave it out to lock until keyway unlock", ttl)
			}
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			l, err := c.AddLock(cmd.Context(), admin.LockRequest{Target: target, Message: message, TTL: ttl})
			if err != nil {
				return err
			}
			until := "until keyway unlock " + l.ID
			if !l.Expires.IsZero() {
				until = "until " + l.Expires.Local().Format(time.RFC3339) + " or keyway unlock " + l.ID
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "lock %s: %s is locked %s\n", l.ID, l.Target, until)
			return err
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&target.User, "user", "", "lock a user")
	cmd.Flags().StringVar(&target.Role, "role", "", "lock everyone holding a role")
	cmd.Flags().StringVar(&target.DB, "db", "", "lock a database")
	cmd.Flags().StringVar(&target.Agent, "agent", "", "lock the sessions an agent serves (its host name)")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "how long the lock lasts (default: until keyway unlock)")
	cmd.Flags().StringVar(&message, "message", "", "what the locked clients are told")
	return cmd
}

// newLocksCmd is keyway locks ls.
func newLocksCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "locks", Short: "List locks"}
	var path string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the locks in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			locks, err := c.Locks(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTARGET\tEXPIRES\tMESSAGE")
			for _, l := range locks {
				expires := "never"
				if !l.Expires.IsZero() {
					expires = l.Expires.Local().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.ID, l.Target, expires, l.Message)
			}
			return tw.Flush()
		},
	}
	configFlag(ls, &path)
	cmd.AddCommand(ls)
	return cmd
}

// newUnlockCmd is keyway unlock ID.
func newUnlockCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "unlock ID",
		Short: "Remove a lock",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			if err := c.RemoveLock(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "lock %s removed\n", args[0])
			return err
		},
	}
	configFlag(cmd, &path)
	return cmd
}
