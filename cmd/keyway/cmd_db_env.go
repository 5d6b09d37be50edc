package main

import (
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/client"
)

// dbSettings are what a libpq client needs to reach a database through
// the proxy.
type dbSettings struct {
	host, port, user, name, rootCert, cert, key string
}

// loggedInDB returns the settings of a database you ran keyway db login
// for, logging in now with --db-user when there are no files yet.
func loggedInDB(cmd *cobra.Command, name, dbUser, dbName string) (dbSettings, error) {
	var prof *client.Profile
	var f dbFiles
	var err error
	if dbUser != "" {
		if prof, f, err = dbLogin(cmd, name, dbUser, dbName); err != nil {
			return dbSettings{}, err
		}
	} else {
		if prof, _, err = userSession(cmd); err != nil {
			return dbSettings{}, err
		}
		if prof.Dir == "" {
			if prof.Dir, err = client.Home(); err != nil {
				return dbSettings{}, err
			}
		}
		f = dbFilesFor(prof, name)
		if _, err := os.Stat(f.prefix + ".crt"); err != nil {
			return dbSettings{}, fmt.Errorf("no certificate for %s yet: run keyway db login %s --db-user=USER, or pass --db-user", name, name)
		}
	}
	host, port, err := net.SplitHostPort(prof.Proxy)
	if err != nil {
		return dbSettings{}, err
	}
	return dbSettings{host: host, port: port, user: dbUser, name: dbName,
		rootCert: f.prefix + ".cas", cert: f.prefix + ".crt", key: f.prefix + ".key"}, nil
}

func newDBEnvCmd() *cobra.Command {
	var dbUser, dbName string
	cmd := &cobra.Command{
		Use:   "env NAME [--db-user=USER] [--db-name=DB]",
		Short: "Print export lines so any libpq client connects straight to the proxy",
		Long: `Print shell export lines (PGHOST, PGPORT, PGSSLMODE=verify-full,
PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, and PGUSER/PGDATABASE when given), so
that after eval "$(keyway db env NAME)" psql, pgbench or any libpq client
connects through the proxy with your certificate for the database.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loggedInDB(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "export PGHOST=%s\nexport PGPORT=%s\nexport PGSSLMODE=verify-full\nexport PGSSLROOTCERT=%s\nexport PGSSLCERT=%s\nexport PGSSLKEY=%s\n",
				s.host, s.port, s.rootCert, s.cert, s.key)
			if s.user != "" {
				fmt.Fprintf(w, "export PGUSER=%s\n", s.user)
			}
			if s.name != "" {
				fmt.Fprintf(w, "export PGDATABASE=%s\n", s.name)
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
			s, err := loggedInDB(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			dsn := fmt.Sprintf("postgres://%s@%s:%s/%s?sslmode=verify-full&sslrootcert=%s&sslcert=%s&sslkey=%s",
				orDefault(s.user, "USER"), s.host, s.port, s.name, s.rootCert, s.cert, s.key)
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Host:          %s\nPort:          %s\nUser:          %s\nDatabase:      %s\nSSL mode:      verify-full\nCA:            %s\nCertificate:   %s\nKey:           %s\nDSN:           %s\n",
				s.host, s.port, orDefault(s.user, "(the db user you logged in with)"), orDefault(s.name, "(default: the db user's name)"), s.rootCert, s.cert, s.key, dsn)
			return err
		},
	}
	cmd.Flags().StringVar(&dbUser, "db-user", "", "database user (logs in to the database when given)")
	cmd.Flags().StringVar(&dbName, "db-name", "", "logical database")
	return cmd
}
