package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/auth"
)

func newTokensCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Manage one-time join tokens for agents and proxies"}
	var path, typ, format string
	var ttl time.Duration
	var dbNames, dbLabels []string
	add := &cobra.Command{
		Use:   "add --type=db|proxy [--db-names=NAME,...] [--db-labels=KEY=VALUE,...] [--format=text] [--ttl=30m]",
		Short: "Create a single-use join token",
		Long: `Create a join token for an agent. It can be used once, until it expires
(30 minutes by default), and carries the pin of the cluster's host
authority so the agent can check the proxy before sending it. Keep it in a
0600 file: keyway tokens add --type=db --db-names=orders --format=text > /tmp/token

The token grants what its agent may serve, for as long as the agent keeps
its identity: the databases named by --db-names ('*' for every name), and
the db resources (keyway create db) whose stored labels match every
--db-labels pair. A database outside the grant is refused when the agent
registers it, recorded in the audit log, and never routed to. Without
either flag, the token grants the databases its agent registers first,
except those another joined agent was granted by name: that first
registration fixes the grant, so the agent cannot claim more later.

--type=proxy makes a token for a proxy that runs without the auth role
(proxy { auth_addrs, token_file }): it grants no databases, and the host
it joins may call the auth service's port as a proxy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			resp, err := c.AddToken(cmd.Context(), admin.TokenRequest{Type: typ, TTL: ttl, DBNames: dbNames, DBLabels: dbLabels})
			if err != nil {
				return err
			}
			if format == "text" {
				_, err = fmt.Fprintln(cmd.OutOrStdout(), resp.Token)
				return err
			}
			if resp.Record.Type == "proxy" {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "join token (id %s, type proxy, expires %s):\n%s\n\nOn the proxy host: save it in a 0600 file and name it in proxy { token_file }.\n",
					resp.Record.ID, resp.Record.Expires.Local().Format(time.RFC3339), resp.Token)
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "join token (id %s, type %s, grants %s, expires %s):\n%s\n\nOn the agent host: keyway db configure create --token=FILE ...\n",
				resp.Record.ID, resp.Record.Type, grantText(resp.Record.Grant), resp.Record.Expires.Local().Format(time.RFC3339), resp.Token)
			return err
		},
	}
	configFlag(add, &path)
	add.Flags().StringVar(&typ, "type", "db", "token type: db (an agent) or proxy (a proxy without the auth role)")
	add.Flags().StringVar(&format, "format", "", "text prints only the token")
	add.Flags().DurationVar(&ttl, "ttl", 30*time.Minute, "how long the token can be used")
	add.Flags().StringSliceVar(&dbNames, "db-names", nil, "database names the agent may serve ('*' for every name)")
	add.Flags().StringSliceVar(&dbLabels, "db-labels", nil, "KEY=VALUE pairs: the agent may serve db resources whose stored labels match all of them")

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List unused join tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			toks, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tGRANTS\tEXPIRES")
			for _, t := range toks {
				state := t.Expires.Local().Format(time.RFC3339)
				if time.Now().After(t.Expires) {
					state += " (expired)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Type, grantText(t.Grant), state)
			}
			return tw.Flush()
		},
	}
	configFlag(ls, &path)
	rm := &cobra.Command{
		Use:   "rm ID",
		Short: "Delete a join token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := adminClient(cmd, path)
			if err != nil {
				return err
			}
			if err := c.RemoveToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted join token %s\n", args[0])
			return err
		},
	}
	configFlag(rm, &path)
	cmd.AddCommand(add, ls, rm)
	return cmd
}

// grantText describes a token's grant; tokens made before grants
// existed grant nothing.
func grantText(g *auth.DBGrant) string {
	if g == nil {
		return "no databases"
	}
	return g.String()
}
