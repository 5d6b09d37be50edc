package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/sdk"
)

func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Reach databases: list, log in, connect, configure an agent",
	}
	cmd.AddCommand(newDBLsCmd(), newDBLoginCmd(), newDBConnectCmd(), newDBLogoutCmd(), newDBConfigureCmd(), newDBEnvCmd(), newDBConfigCmd())
	return cmd
}

func newDBLsCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the databases your roles allow, with their health",
		Long: `List the databases your roles allow (action db.list): name, description,
protocol, labels and health. HEALTH is "healthy" when an agent serving the
database passed its last check (every 5 s, PostgreSQL must answer an
SSLRequest), "unhealthy: AGENT: WHY" when every agent serving it failed,
and "no agent" for a db resource that no connected agent serves.
--format=json adds each agent's own result.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prof, cert, err := userSession(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			conn, err := prof.API(ctx, cert)
			if err != nil {
				return err
			}
			defer func() { _ = conn.Close() }()
			resp, err := apiv1.NewUserClient(conn).ListDatabases(ctx, &apiv1.ListDatabasesRequest{})
			if err != nil {
				return errors.New(status.Convert(err).Message())
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(resp.GetDatabases())
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDESCRIPTION\tPROTOCOL\tLABELS\tHEALTH")
			for _, db := range resp.GetDatabases() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", db.GetName(), orDefault(db.GetDescription(), "-"), db.GetProtocol(), labelsString(db.GetLabels()), healthString(db))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

// healthString is the HEALTH column: healthy, unhealthy with the failed
// checks, no agent, or - from a proxy that reports no health.
func healthString(db *apiv1.Database) string {
	switch db.GetStatus() {
	case "healthy":
		return "healthy"
	case "unhealthy":
		return "unhealthy: " + db.GetHealthDetail()
	case "no_agent":
		return "no agent"
	}
	return "-"
}

func labelsString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// dbLogin gets a certificate routed to the database as dbUser, writes
// it with the files of that database user, and asks the proxy how the
// database's clients connect.
func dbLogin(cmd *cobra.Command, name, dbUser, dbName string) (*client.Profile, dbFiles, *apiv1.Client, error) {
	if dbUser == "" {
		return nil, dbFiles{}, nil, fmt.Errorf("--db-user is required: the database user to log in as")
	}
	prof, cert, err := dbSession(cmd)
	if err != nil {
		return nil, dbFiles{}, nil, err
	}
	f, err := dbFilesFor(prof, name, dbUser)
	if err != nil {
		return nil, dbFiles{}, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	conn, err := prof.API(ctx, cert)
	if err != nil {
		return nil, dbFiles{}, nil, err
	}
	defer func() { _ = conn.Close() }()
	key, err := authority.NewKey("")
	if err != nil {
		return nil, dbFiles{}, nil, err
	}
	csr, err := authority.NewCSR(key, prof.User)
	if err != nil {
		return nil, dbFiles{}, nil, err
	}
	resp, err := apiv1.NewUserClient(conn).DatabaseCertificate(ctx, &apiv1.DatabaseCertificateRequest{Database: name, DbUser: dbUser, DbName: dbName, Csr: csr})
	if err != nil {
		return nil, dbFiles{}, nil, errors.New(status.Convert(err).Message())
	}
	dc, err := databaseClient(ctx, conn, name)
	if err != nil {
		return nil, dbFiles{}, nil, err
	}
	keyPEM, err := authority.KeyPEM(key)
	if err != nil {
		return nil, dbFiles{}, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(f.prefix), 0o700); err != nil {
		return nil, dbFiles{}, nil, err
	}
	if err := authority.WriteFile(f.key(), keyPEM, 0o600); err != nil {
		return nil, dbFiles{}, nil, err
	}
	if err := authority.WriteFile(f.cert(), authority.CertsPEM(resp.GetCertificate()), 0o600); err != nil {
		return nil, dbFiles{}, nil, err
	}
	if err := authority.WriteFile(f.cas(), authority.CertsPEM(resp.GetHostCas()...), 0o644); err != nil {
		return nil, dbFiles{}, nil, err
	}
	return prof, f, dc, nil
}

// commandLine shows a rendered client command as a shell line.
func commandLine(c sdk.ClientCommand) string {
	parts := append([]string{c.Command}, c.Args...)
	for i, p := range parts {
		if strings.ContainsAny(p, " \t'\"$") || p == "" {
			parts[i] = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
		}
	}
	return strings.Join(parts, " ")
}

func newDBLoginCmd() *cobra.Command {
	var dbUser, dbName string
	cmd := &cobra.Command{
		Use:   "login NAME --db-user=USER [--db-name=DB]",
		Short: "Get a certificate for one database and print how to connect",
		Long: `Get a certificate for one database as one database user and print how to
connect. Each database user of a database keeps its own files under
~/.keyway/db/USER/NAME/, so logging in as another database user leaves
the clients set up from the first login working.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prof, f, dc, err := dbLogin(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			cc, err := clientSpec(dc).Render(proxySettings(prof, dc, args[0], f, dbUser, dbName))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s as database user %s\nconnect with:\n  %s\n", args[0], dbUser, commandLine(cc))
			return err
		},
	}
	cmd.Flags().StringVar(&dbUser, "db-user", "", "database user")
	cmd.Flags().StringVar(&dbName, "db-name", "", "logical database (default: the database user's name)")
	return cmd
}

func newDBConnectCmd() *cobra.Command {
	var dbUser, dbName, program string
	cmd := &cobra.Command{
		Use:   "connect NAME --db-user=USER [--db-name=DB] [-- CLIENT ARGS]",
		Short: "Log in to a database and run its protocol's client through the proxy",
		Long: `Log in to a database and run the client its protocol's plugin names (psql
for PostgreSQL, mariadb for MySQL) through the proxy, with the login's
certificate. Arguments after -- go to the client.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prof, f, dc, err := dbLogin(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			cc, err := clientSpec(dc).Render(proxySettings(prof, dc, args[0], f, dbUser, dbName))
			if err != nil {
				return err
			}
			if program != "" {
				cc.Command = program
			}
			if _, err := exec.LookPath(cc.Command); err != nil {
				return fmt.Errorf("keyway db connect runs %s, which is not installed here (%s); keyway db env and db config print settings for other clients", cc.Command, orDefault(dc.GetInstall(), "install it"))
			}
			c := exec.Command(cc.Command, append(cc.Args, args[1:]...)...)
			c.Env = append(os.Environ(), cc.Env...)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := c.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return errReported
				}
				return fmt.Errorf("running %s: %w", cc.Command, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dbUser, "db-user", "", "database user")
	cmd.Flags().StringVar(&dbName, "db-name", "", "logical database (default: the database user's name)")
	cmd.Flags().StringVar(&program, "client", "", "client program to run instead of the protocol's own")
	return cmd
}

func newDBLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [NAME]",
		Short: "Delete the certificates of one database, or of all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prof, _, err := withHome(localSession(cmd))
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			dir := dbDir(prof, name)
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			if name == "" {
				files, _ = filepath.Glob(filepath.Join(dir, "*", "*"))
			}
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed %d database certificate files\n", len(files))
			return err
		},
	}
}
