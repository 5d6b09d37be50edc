package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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

// dbFiles are a database login's certificate, key and the proxy's CA.
type dbFiles struct{ prefix string }

func dbFilesFor(prof *client.Profile, name string) dbFiles {
	return dbFiles{prefix: filepath.Join(prof.Dir, "db", prof.User+"-"+name)}
}

// connString is the libpq connection string through the proxies at
// addrs: with more than one, libpq tries them in order until one
// accepts, checking each one's certificate for its own name.
func (f dbFiles) connString(addrs []string, dbUser, dbName string) string {
	hosts, ports := make([]string, 0, len(addrs)), make([]string, 0, len(addrs))
	for _, a := range addrs {
		h, p, _ := net.SplitHostPort(a)
		hosts, ports = append(hosts, h), append(ports, p)
	}
	host, port := strings.Join(hosts, ","), strings.Join(ports, ",")
	s := fmt.Sprintf("host=%s port=%s sslmode=verify-full sslrootcert=%s.cas sslcert=%s.crt sslkey=%s.key user=%s", host, port, f.prefix, f.prefix, f.prefix, dbUser)
	if dbName != "" {
		s += " dbname=" + dbName
	}
	return s
}

// dbLogin gets a certificate routed to the database and writes it.
func dbLogin(cmd *cobra.Command, name, dbUser, dbName string) (*client.Profile, dbFiles, error) {
	if dbUser == "" {
		return nil, dbFiles{}, fmt.Errorf("--db-user is required: the database user to log in as")
	}
	prof, cert, err := userSession(cmd)
	if err != nil {
		return nil, dbFiles{}, err
	}
	if prof.Dir == "" {
		if prof.Dir, err = client.Home(); err != nil {
			return nil, dbFiles{}, err
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	conn, err := prof.API(ctx, cert)
	if err != nil {
		return nil, dbFiles{}, err
	}
	defer func() { _ = conn.Close() }()
	key, err := authority.NewKey("")
	if err != nil {
		return nil, dbFiles{}, err
	}
	csr, err := authority.NewCSR(key, prof.User)
	if err != nil {
		return nil, dbFiles{}, err
	}
	resp, err := apiv1.NewUserClient(conn).DatabaseCertificate(ctx, &apiv1.DatabaseCertificateRequest{Database: name, DbUser: dbUser, DbName: dbName, Csr: csr})
	if err != nil {
		return nil, dbFiles{}, errors.New(status.Convert(err).Message())
	}
	keyPEM, err := authority.KeyPEM(key)
	if err != nil {
		return nil, dbFiles{}, err
	}
	f := dbFilesFor(prof, name)
	if err := os.MkdirAll(filepath.Dir(f.prefix), 0o700); err != nil {
		return nil, dbFiles{}, err
	}
	if err := authority.WriteFile(f.prefix+".key", keyPEM, 0o600); err != nil {
		return nil, dbFiles{}, err
	}
	if err := authority.WriteFile(f.prefix+".crt", authority.CertsPEM(resp.GetCertificate()), 0o600); err != nil {
		return nil, dbFiles{}, err
	}
	if err := authority.WriteFile(f.prefix+".cas", authority.CertsPEM(resp.GetHostCas()...), 0o644); err != nil {
		return nil, dbFiles{}, err
	}
	return prof, f, nil
}

func newDBLoginCmd() *cobra.Command {
	var dbUser, dbName string
	cmd := &cobra.Command{
		Use:   "login NAME --db-user=USER [--db-name=DB]",
		Short: "Get a certificate for one database and print how to connect",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prof, f, err := dbLogin(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s as database user %s\nconnect with:\n  psql \"%s\"\n", args[0], dbUser, f.connString([]string{prof.Proxy}, dbUser, dbName))
			return err
		},
	}
	cmd.Flags().StringVar(&dbUser, "db-user", "", "database user")
	cmd.Flags().StringVar(&dbName, "db-name", "", "logical database (default: the database user's name)")
	return cmd
}

func newDBConnectCmd() *cobra.Command {
	var dbUser, dbName, psql string
	cmd := &cobra.Command{
		Use:   "connect NAME --db-user=USER [--db-name=DB] [-- PSQL ARGS]",
		Short: "Log in to a database and run psql through the proxy",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := exec.LookPath(psql); err != nil {
				return fmt.Errorf("keyway db connect runs psql, which is not installed here (apt-get install postgresql-client); keyway db env prints settings for other clients")
			}
			prof, f, err := dbLogin(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			// psql falls back on the cluster's other proxies by itself.
			c := exec.Command(psql, append([]string{f.connString(prof.Addresses(), dbUser, dbName)}, args[1:]...)...)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := c.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return errReported
				}
				return fmt.Errorf("running %s: %w", psql, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dbUser, "db-user", "", "database user")
	cmd.Flags().StringVar(&dbName, "db-name", "", "logical database (default: the database user's name)")
	cmd.Flags().StringVar(&psql, "psql", "psql", "psql executable")
	return cmd
}

func newDBLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [NAME]",
		Short: "Delete the certificates of one database, or of all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prof, err := client.Current()
			if err != nil {
				return err
			}
			pattern := filepath.Join(prof.Dir, "db", prof.User+"-*")
			if len(args) == 1 {
				pattern = dbFilesFor(prof, args[0]).prefix + ".*"
			}
			files, _ := filepath.Glob(pattern)
			for _, f := range files {
				if err := os.Remove(f); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed %d database certificate files\n", len(files))
			return err
		},
	}
}
