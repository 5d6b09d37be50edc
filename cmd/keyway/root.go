package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Sentinel errors whose details were already printed.
var (
	errReported = errors.New("failed")
	// errDenied exits with code 2: a policy said no.
	errDenied = errors.New("denied")
)

func execute(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		if errors.Is(err, errDenied) {
			return 2
		}
		if !errors.Is(err, errReported) {
			fmt.Fprintln(stderr, "error:", err)
		}
		return 1
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "keyway",
		Short: "Identity-aware access proxy for databases",
		Long: `keyway gives people and machines access to self-hosted databases with
short-lived certificates from the cluster's own authorities, role-based
access, and an audit log of sessions and statements. One binary runs the auth, proxy and database
agent roles; protocol, CA and authorisation plugins run as separate
processes under its supervision.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newStartCmd(),
		newPluginsCmd(),
		newConfigCmd(),
		newAuthCmd(),
		newStatusCmd(),
		newServePluginCmd(),
		newConfigureCmd(),
		newTokensCmd(),
		newUsersCmd(),
		newLockCmd(), newLocksCmd(), newUnlockCmd(),
		newBotsCmd(),
		newLoginCmd(),
		newLogoutCmd(),
		newDBCmd(),
		newProxyCmd(),
		newInstallCmd(),
		newCreateCmd(),
		newGetCmd(),
		newRmCmd(),
		newAccessCmd(),
		newAuditCmd(),
	)
	root.PersistentFlags().StringP("identity", "i", "", "identity file from keyway auth sign --user (instead of keyway login)")
	root.PersistentFlags().String("proxy", "", "the cluster's proxy, HOST:PORT")
	return root
}
