package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/config"
)

// adminClient returns the admin socket of the keyway running with the
// configuration at path; administration of users, tokens and roles goes
// through the running auth process, which owns the state.
func adminClient(cmd *cobra.Command, path string) (*admin.Client, *config.Config, error) {
	cfg, _, err := loadConfig(path, cmd.ErrOrStderr())
	if err != nil {
		return nil, nil, err
	}
	c := admin.NewClient(admin.SocketPath(cfg.DataDir))
	if err := c.Ready(cmd.Context()); err != nil {
		return nil, nil, fmt.Errorf("keyway is not running with %s (no answer on %s): start it with keyway start -c %s", path, admin.SocketPath(cfg.DataDir), path)
	}
	return c, cfg, nil
}

func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "/etc/keyway.hcl", "configuration file of the auth host")
}
