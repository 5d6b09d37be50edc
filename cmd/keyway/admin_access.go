package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/core/config"
)

// adminClient returns the admin API: on the auth host (its configuration
// at path exists, or -c was given) the running auth process's admin
// socket; elsewhere, for a logged-in user whose roles allow the admin
// action, the cluster API through the proxy.
func adminClient(cmd *cobra.Command, path string) (*admin.Client, *config.Config, error) {
	if _, err := os.Stat(path); err != nil && !cmd.Flags().Changed("config") {
		if c, err := remoteAdmin(cmd); err == nil {
			return c, &config.Config{}, nil
		} else if !errors.Is(err, client.ErrNotLoggedIn) {
			return nil, nil, err
		}
	}
	cfg, _, err := loadConfig(path, cmd.ErrOrStderr())
	if err != nil {
		return nil, nil, err
	}
	c := admin.NewClient(admin.SocketPath(cfg.DataDir))
	if err := c.Ready(cmd.Context()); err != nil {
		_ = c.Close()
		if errors.Is(err, fs.ErrPermission) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("keyway is not running with %s (no answer on %s): start it with keyway start -c %s", path, admin.SocketPath(cfg.DataDir), path)
	}
	return c, cfg, nil
}

func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "/etc/keyway.hcl", "configuration file of the auth host")
}

// remoteAdmin reaches the admin API through the proxy as the logged-in
// user.
func remoteAdmin(cmd *cobra.Command) (*admin.Client, error) {
	prof, cert, err := userSession(cmd)
	if err != nil {
		return nil, err
	}
	conn, err := prof.API(cmd.Context(), cert)
	if err != nil {
		return nil, err
	}
	return admin.NewRemoteClient(conn), nil
}
