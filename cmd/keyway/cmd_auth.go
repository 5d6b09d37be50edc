package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

func newAuthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Sign certificates, export and rotate the cluster's authorities",
		Long: `Work with the cluster's certificate authorities. On the auth host these
commands use the running keyway (through its admin socket) or, when none
runs, the CA plugin of the configuration's data directory.`,
	}
	cmd.AddCommand(newAuthSignCmd(), newAuthExportCmd(), newAuthRotateCmd())
	return cmd
}

// caCommand loads the configuration, opens the CA and runs f with it.
func caCommand(cmd *cobra.Command, path string, f func(ctx context.Context, ca authority.CA, cluster string) error) error {
	cfg, p, err := loadConfig(path, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
	defer cancel()
	ca, stop, err := openCA(ctx, cfg)
	if err != nil {
		return reportStartError(cmd.ErrOrStderr(), p, err)
	}
	defer stop()
	return f(ctx, ca, cfg.ClusterName)
}

func newAuthSignCmd() *cobra.Command {
	var (
		path, format, out, keyAlgo, user, bot, dbUser string
		route, routeUser, routeName                   string
		hosts, roles, dbUsers, dbNames                []string
		ttl                                           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Issue a database server certificate or an identity file",
		Long: `Issue a certificate. The private key is generated here and never leaves
this machine; the CA signs a certificate request.

  --format=db --host=db.example.com --out=server
      writes server.crt and server.key (0600) for PostgreSQL's ssl_cert_file
      and ssl_key_file, and server.cas, the db-client authority that
      PostgreSQL must trust (ssl_ca_file) to accept keyway's agents.

  --format=db-client --db-user=postgres --out=client
      writes client.crt and client.key (0600) that log in to a database as
      the database user postgres (certificate authentication), and
      client.cas, the db authority for sslmode=verify-full. Agents get such
      certificates themselves; this is for checking a database's setup.

  --format=files --user=NAME --route=DB --out=NAME
      writes NAME.crt, NAME.key (0600) and NAME.cas (the host authority)
      for psql's sslcert, sslkey and sslrootcert, to connect through the
      proxy to the database DB.

  --user=NAME --out=NAME.id   (or --bot=NAME)
      writes an identity file (0600): a user certificate carrying the SPIFFE
      ID spiffe://CLUSTER/user/NAME, its roles and traits, its key, and the
      cluster's CAs; scripts use it with keyway -i NAME.id.

For --user and --bot the roles and traits come from the stored user
(keyway users add) or bot (keyway bots add), read through the running
keyway; an unknown name is refused. --roles, --db-users and --db-names
may only narrow them: a role or trait the record does not hold is
refused.`,
		Example: `  keyway auth sign --format=db --host=db.example.com --out=server --ttl=2190h
  keyway auth sign --user=alice --out=alice.id
  keyway auth sign --user=alice --roles=access --db-users=postgres --out=alice-narrow.id`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if format == "" {
				format = "identity"
			}
			if (format == "db" || format == "db-client") && (user != "" || bot != "") {
				return fmt.Errorf("--user and --bot are for identity files, not --format=%s", format)
			}
			switch format {
			case "db":
				if len(hosts) == 0 {
					return fmt.Errorf("--format=db needs --host, the name clients use to reach the database")
				}
				if ttl == 0 {
					ttl = 2190 * time.Hour
				}
			case "db-client":
				if dbUser == "" {
					return fmt.Errorf("--format=db-client needs --db-user, the database user the certificate logs in as")
				}
				if ttl == 0 {
					ttl = time.Hour
				}
			case "identity", "files":
				if (user == "") == (bot == "") {
					return fmt.Errorf("an identity file needs exactly one of --user or --bot")
				}
				if ttl == 0 {
					ttl = authority.DefaultUserTTL
				}
			default:
				return fmt.Errorf("--format must be db, db-client, identity or files, not %q", format)
			}
			if format == "identity" || format == "files" {
				// The stored record decides what the identity carries; the
				// flags may only narrow it.
				sub, err := signedSubject(cmd, path, user, bot, roles, dbUsers, dbNames)
				if err != nil {
					return err
				}
				roles, dbUsers, dbNames = sub.Roles, sub.DBUsers, sub.DBNames
				if sub.MaxTTL > 0 {
					if cmd.Flags().Changed("ttl") && ttl > sub.MaxTTL {
						return fmt.Errorf("--ttl=%s is longer than the max_session_ttl %s of the role %s; ask for %s or less", ttl, sub.MaxTTL, sub.CappedBy, sub.MaxTTL)
					}
					ttl = min(ttl, sub.MaxTTL)
				}
			}
			return caCommand(cmd, path, func(ctx context.Context, ca authority.CA, cluster string) error {
				if format == "db-client" {
					files, err := authority.SignDBClient(ctx, ca, authority.DBClientRequest{DBUser: dbUser, TTL: ttl, KeyAlgorithm: keyAlgo}, time.Now())
					if err != nil {
						return err
					}
					if err := files.Write(out); err != nil {
						return err
					}
					_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %[1]s.crt, %[1]s.key and %[1]s.cas for database user %[2]s (valid for %[3]s)\n"+
						"psql \"sslmode=verify-full sslcert=%[1]s.crt sslkey=%[1]s.key sslrootcert=%[1]s.cas user=%[2]s host=...\"\n", out, dbUser, ttl)
					return err
				}
				if format == "db" {
					files, err := authority.SignDB(ctx, ca, authority.DBRequest{Hosts: hosts, TTL: ttl, KeyAlgorithm: keyAlgo}, time.Now())
					if err != nil {
						return err
					}
					if err := files.Write(out); err != nil {
						return err
					}
					_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %[1]s.crt, %[1]s.key and %[1]s.cas (valid for %s)\n"+
						"postgresql.conf: ssl = on, ssl_cert_file = '%[1]s.crt', ssl_key_file = '%[1]s.key', ssl_ca_file = '%[1]s.cas'\n"+
						"pg_hba.conf:     hostssl all all 0.0.0.0/0 cert\n", out, ttl)
					return err
				}
				kind, name := identity.KindUser, user
				if bot != "" {
					kind, name = identity.KindBot, bot
				}
				req := authority.IdentityRequest{
					Cluster: cluster, Kind: kind, Name: name, Roles: roles,
					DBUsers: dbUsers, DBNames: dbNames, TTL: ttl, KeyAlgorithm: keyAlgo,
				}
				if route != "" {
					req.Route = &identity.Route{Service: route, DBUser: routeUser, DBName: routeName}
				}
				f, err := authority.SignIdentity(ctx, ca, req, time.Now())
				if err != nil {
					return err
				}
				if format == "files" {
					if err := f.WriteClientFiles(out); err != nil {
						return err
					}
					_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %[1]s.crt, %[1]s.key and %[1]s.cas for spiffe://%[2]s/%[3]s/%[4]s\n", out, cluster, kind, name)
					return err
				}
				if err := f.Write(out); err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote identity file %s for spiffe://%s/%s/%s (roles %s, valid for %s)\n",
					out, cluster, kind, name, strings.Join(roles, ","), ttl)
				return err
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&path, "config", "c", "/etc/keyway.hcl", "configuration file")
	fl.StringVar(&format, "format", "", "db (database server certificate), db-client, identity (default with --user/--bot) or files")
	fl.StringVar(&dbUser, "db-user", "", "database user of a db-client certificate")
	fl.StringSliceVar(&hosts, "host", nil, "database host names or addresses, comma separated (--format=db)")
	fl.StringVar(&out, "out", "", "output path; --format=db adds .crt, .key and .cas")
	fl.DurationVar(&ttl, "ttl", 0, "validity (default 2190h for db, 12h for identities)")
	fl.StringVar(&keyAlgo, "key-algorithm", authority.KeyECDSAP256, "key to generate: ecdsa-p256, rsa-2048 or rsa-4096")
	fl.StringVar(&user, "user", "", "user name for an identity file")
	fl.StringVar(&bot, "bot", "", "bot name for an identity file")
	fl.StringSliceVar(&roles, "roles", nil, "roles, comma separated")
	fl.StringSliceVar(&dbUsers, "db-users", nil, "database users the identity may use, comma separated")
	fl.StringSliceVar(&dbNames, "db-names", nil, "logical databases the identity may use, comma separated")
	fl.StringVar(&route, "route", "", "bind the certificate to this database, so psql can connect through the proxy with it")
	fl.StringVar(&routeUser, "route-db-user", "", "with --route: the database user the certificate is for")
	fl.StringVar(&routeName, "route-db-name", "", "with --route: the logical database the certificate is for")
	return cmd
}

func newAuthExportCmd() *cobra.Command {
	var path, typ string
	cmd := &cobra.Command{
		Use:   "export --type=db-client|db|user|host",
		Short: "Print an authority's trusted certificates as PEM",
		Long: `Print the certificates trusted for one authority, active first; during a
rotation both the new and the old. For example, PostgreSQL's ssl_ca_file
needs the db-client authority, and a client using sslmode=verify-full
needs the db authority.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := authority.ParseAuthority(typ)
			if err != nil {
				return err
			}
			return caCommand(cmd, path, func(ctx context.Context, ca authority.CA, _ string) error {
				pem, err := authority.Export(ctx, ca, a)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(pem)
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "/etc/keyway.hcl", "configuration file")
	cmd.Flags().StringVar(&typ, "type", "", "authority: user, host, db or db-client")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

func newAuthRotateCmd() *cobra.Command {
	var path, typ, phase string
	var manual bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate --type=TYPE (--phase=PHASE | --manual=false [--grace=DURATION])",
		Short: "Replace an authority's key in phases that never break a working client",
		Long: `Rotate one authority's key in phases:

  init            a new key is made and trusted everywhere; the old key still
                  signs. Export the authority again (keyway auth export) to
                  every place that trusts it, e.g. PostgreSQL's ssl_ca_file
                  for db-client, and reload those.
  update_clients  the new key signs client certificates; servers still
                  present certificates of the old key.
  update_servers  the new key signs everything: the proxy's certificate,
                  agents' host certificates, and database server
                  certificates issued from now on (keyway auth sign
                  --format=db). Replace database server certificates now.
  standby         the old key is no longer trusted. Export the authority
                  again to every place that trusts it, and reload those.
  rollback        from any phase before standby: the old key signs again;
                  the standby that follows drops the new key.

--manual=false starts a rotation that the running keyway walks by itself:
init now, then update_clients, update_servers and standby at a third, two
thirds and the end of the grace period. Without --phase this is the default.`,
		Example: `  keyway auth rotate --type=db-client --phase=init
  keyway auth export --type=db-client > /etc/postgresql/keyway-clients.pem   # then reload PostgreSQL
  keyway auth rotate --type=db-client --phase=update_clients
  keyway auth rotate --type=host --manual=false --grace=30h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := authority.ParseAuthority(typ)
			if err != nil {
				return err
			}
			req, err := rotateRequest(a, phase, manual, cmd.Flags().Changed("manual"), grace)
			if err != nil {
				return err
			}
			return caCommand(cmd, path, func(ctx context.Context, ca authority.CA, _ string) error {
				st, err := ca.Rotate(ctx, req)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), rotationSummary(st))
				return err
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&path, "config", "c", "/etc/keyway.hcl", "configuration file")
	fl.StringVar(&typ, "type", "", "authority: user, host, db or db-client")
	fl.StringVar(&phase, "phase", "", "phase to move to: init, update_clients, update_servers, standby or rollback")
	fl.BoolVar(&manual, "manual", false, "walk the phases by hand with --phase (default when --phase is given)")
	fl.DurationVar(&grace, "grace", 30*time.Hour, "how long an automatic rotation takes until standby; at least the longest certificate lifetime")
	fl.DurationVar(&grace, "grace-period", 30*time.Hour, "same as --grace")
	_ = fl.MarkHidden("grace-period")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

// rotateRequest turns auth rotate's flags into a request, refusing
// combinations that say two different things.
func rotateRequest(a sdk.Authority, phase string, manual, manualSet bool, grace time.Duration) (sdk.RotateRequest, error) {
	if grace <= 0 {
		return sdk.RotateRequest{}, fmt.Errorf("--grace must be positive")
	}
	if phase == "" {
		if manualSet && manual {
			return sdk.RotateRequest{}, fmt.Errorf("a manual rotation needs --phase: init, update_clients, update_servers, standby or rollback")
		}
		return sdk.RotateRequest{Authority: a, Phase: sdk.PhaseInit, Grace: grace, Automatic: true}, nil
	}
	if manualSet && !manual {
		return sdk.RotateRequest{}, fmt.Errorf("--phase is for a manual rotation; --manual=false starts an automatic one without --phase")
	}
	if !slices.Contains(sdk.Phases(), phase) {
		return sdk.RotateRequest{}, fmt.Errorf("unknown rotation phase %q: use init, update_clients, update_servers, standby or rollback", phase)
	}
	return sdk.RotateRequest{Authority: a, Phase: phase, Grace: grace}, nil
}

// rotationSummary says where a rotation stands and what comes next.
func rotationSummary(st sdk.AuthorityState) string {
	pin := "?"
	if len(st.Certificates) > 0 {
		pin, _ = authority.Pin(st.Certificates[0])
	}
	a := st.Authority
	switch st.Phase {
	case sdk.PhaseInit:
		msg := fmt.Sprintf("the %s authority is in phase init: new key %s is trusted, the old key still signs; export it (keyway auth export --type=%s) to everything that trusts it", a, pin, a)
		if st.Automatic {
			msg += fmt.Sprintf("; the running keyway completes the rotation by %s", st.GraceEnds.UTC().Format(time.RFC3339))
		}
		return msg
	case sdk.PhaseUpdateClients:
		return fmt.Sprintf("the %s authority is in phase update_clients: new key %s signs client certificates", a, pin)
	case sdk.PhaseUpdateServers:
		return fmt.Sprintf("the %s authority is in phase update_servers: new key %s signs all certificates; the old key is trusted until standby", a, pin)
	case sdk.PhaseRollback:
		return fmt.Sprintf("the %s authority is in phase rollback: the old key %s signs again; standby drops the new key", a, pin)
	}
	return fmt.Sprintf("the %s authority is in standby with key %s; export it again (keyway auth export --type=%s) to everything that trusts it", a, pin, a)
}

// signedSubject reads the stored user or bot an identity is signed for,
// through the running keyway, narrowed by the flags.
func signedSubject(cmd *cobra.Command, path, user, bot string, roles, dbUsers, dbNames []string) (auth.Subject, error) {
	c, _, err := adminClient(cmd, path)
	if err != nil {
		return auth.Subject{}, fmt.Errorf("the roles of an identity come from the stored user or bot: %w", err)
	}
	req := admin.SubjectRequest{Kind: "user", Name: user, Narrowing: auth.Narrowing{Roles: roles, DBUsers: dbUsers, DBNames: dbNames}}
	if bot != "" {
		req.Kind, req.Name = "bot", bot
	}
	return c.Subject(cmd.Context(), req)
}
