package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/client"
)

func newStatusCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "status -c FILE",
		Short: "Show who is logged in, and the cluster's name, version and CA pins",
		Long: `Show your login (user, roles, traits, expiry) when you are logged in, and
on the auth host (with its configuration, -c) the cluster name, keyway's
version, the running process's open file limits (soft and hard) and
descriptors in use, the cluster's proxies with their health (a proxy
without the auth role is "remote"; "ok", or why it cannot take new
sessions), and for each authority the pins (sha256 of the
SubjectPublicKeyInfo) of its trusted certificates and its rotation phase.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loggedIn := false
			if id, _ := cmd.Flags().GetString("identity"); id != "" {
				prof, cert, err := localSession(cmd)
				if err != nil {
					return err
				}
				if err := printStatus(cmd, prof, cert); err != nil {
					return err
				}
				loggedIn = true
			} else if home, err := client.Home(); err == nil && !cmd.Flags().Changed("config") {
				if prof, err := client.LoadProfile(home); err == nil {
					cert, err := prof.Certificate()
					if err != nil {
						return err
					}
					if err := printStatus(cmd, prof, cert); err != nil {
						return err
					}
					loggedIn = true
				}
			}
			if _, err := os.Stat(path); err != nil {
				if loggedIn {
					return nil
				}
				return fmt.Errorf("not logged in, and no configuration at %s: run keyway login, or pass -c on the auth host", path)
			}
			if loggedIn {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return caCommand(cmd, path, func(ctx context.Context, ca authority.CA, cluster string) error {
				states, err := ca.Authorities(ctx)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "cluster:  %s\nversion:  %s\n", cluster, version)
				// Only a running keyway reports on its process.
				var proxies []admin.ProxyStatus
				if running, ok := ca.(*admin.Client); ok {
					if p, err := running.Process(ctx); err == nil {
						fmt.Fprintf(w, "nofile:   %s\n", fileLimits(p))
						proxies = p.Proxies
					}
				}
				fmt.Fprintln(w)
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				if len(proxies) > 0 {
					fmt.Fprintln(tw, "PROXY\tKIND\tVERSION\tHEALTH")
					for _, px := range proxies {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", px.Addr, proxyKind(px), px.Version, proxyHealth(px))
					}
					if err := tw.Flush(); err != nil {
						return err
					}
					fmt.Fprintln(w)
				}
				fmt.Fprintln(tw, "AUTHORITY\tPHASE\tPIN\tEXPIRES")
				for _, st := range states {
					phase := st.Phase
					// One word, so the table stays easy to read by scripts.
					if st.Automatic {
						phase += "/automatic,standby-at=" + st.GraceEnds.UTC().Format(time.RFC3339)
					} else if !st.Started.IsZero() {
						phase += "/manual,since=" + st.Started.UTC().Format(time.RFC3339)
					}
					for i, der := range st.Certificates {
						pin, err := authority.Pin(der)
						if err != nil {
							return err
						}
						label := st.Authority.String()
						if i > 0 {
							label, phase = "", "(key dropped at standby)"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", label, phase, pin, expiry(der))
					}
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "/etc/keyway.hcl", "configuration file")
	return cmd
}

func expiry(der []byte) string {
	t := authority.NotAfter(der)
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("2006-01-02")
}

// fileLimits describes a running keyway's open file limits and use.
func fileLimits(p admin.Process) string {
	s := fmt.Sprintf("soft limit %d, hard limit %d", p.OpenFilesSoft, p.OpenFilesHard)
	if p.OpenFiles >= 0 {
		s += fmt.Sprintf(", %d open", p.OpenFiles)
	}
	return s
}

// proxyKind says whether a proxy runs the auth role in its process.
func proxyKind(p admin.ProxyStatus) string {
	if p.Remote {
		return "remote"
	}
	return "with-auth"
}

// proxyHealth is "ok", or why the proxy cannot take new sessions.
func proxyHealth(p admin.ProxyStatus) string {
	if p.Problem == "" {
		return "ok"
	}
	return p.Problem
}
