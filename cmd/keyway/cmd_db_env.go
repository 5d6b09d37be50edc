package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/sdk"
)

// loggedInDB renders the protocol's client settings for a login to
// database name: the login as dbUser, made now, or, without --db-user, the
// one you made before. The database user and name come from the login's
// certificate, so the settings log in as what the certificate allows.
func loggedInDB(cmd *cobra.Command, name, dbUser, dbName string) (sdk.ClientCommand, error) {
	var prof *client.Profile
	var f dbFiles
	var dc *apiv1.Client
	var err error
	if dbUser != "" {
		if prof, f, dc, err = dbLogin(cmd, name, dbUser, dbName); err != nil {
			return sdk.ClientCommand{}, err
		}
	} else {
		p, c, err := dbSession(cmd)
		if err != nil {
			return sdk.ClientCommand{}, err
		}
		prof = p
		if f, err = loggedIn(prof, name, ""); err != nil {
			return sdk.ClientCommand{}, err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
		defer cancel()
		conn, err := prof.API(ctx, c)
		if err != nil {
			return sdk.ClientCommand{}, err
		}
		defer func() { _ = conn.Close() }()
		if dc, err = databaseClient(ctx, conn, name); err != nil {
			return sdk.ClientCommand{}, err
		}
	}
	r, err := f.route()
	if err != nil {
		return sdk.ClientCommand{}, err
	}
	return clientSpec(dc).Render(proxySettings(prof, dc, name, f, r.DBUser, r.DBName))
}

// shellQuote quotes a value for a POSIX shell's export line.
func shellQuote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@", r))
	}) < 0 {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

func newDBEnvCmd() *cobra.Command {
	var dbUser, dbName string
	cmd := &cobra.Command{
		Use:   "env NAME [--db-user=USER] [--db-name=DB]",
		Short: "Print export lines so the protocol's clients connect straight to the proxy",
		Long: `Print shell export lines with the settings the database's protocol plugin
names for its clients (for PostgreSQL: PGHOST, PGPORT, PGSSLMODE,
PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGUSER and PGDATABASE), so that after
eval "$(keyway db env NAME)" psql, pgbench or any libpq client connects
through the proxy as the database user and database of your login.
Without --db-user it uses your only login to NAME; with it, it logs in.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cc, err := loggedInDB(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, kv := range cc.Env {
				name, value, _ := strings.Cut(kv, "=")
				fmt.Fprintf(w, "export %s=%s\n", name, shellQuote(value))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dbUser, "db-user", "", "database user (logs in to the database when given)")
	cmd.Flags().StringVar(&dbName, "db-name", "", "logical database")
	return cmd
}

func newDBConfigCmd() *cobra.Command {
	var dbUser, dbName string
	cmd := &cobra.Command{
		Use:   "config NAME [--db-user=USER] [--db-name=DB]",
		Short: "Print what a GUI tool or a DSN needs to reach a database",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cc, err := loggedInDB(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), cc.Config)
			return err
		},
	}
	cmd.Flags().StringVar(&dbUser, "db-user", "", "database user (logs in to the database when given)")
	cmd.Flags().StringVar(&dbName, "db-name", "", "logical database")
	return cmd
}
