package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"github.com/spf13/cobra"
)

var unitTemplate = template.Must(template.New("unit").Parse(`[Unit]
Description=keyway identity-aware access proxy for databases
Documentation=https://github.com/keyway-dev/keyway
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={{.Binary}} start -c {{.Config}}
Restart=on-failure
RestartSec=5
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=30
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=full

[Install]
WantedBy=multi-user.target
`))

func newInstallCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "install", Short: "Install keyway as a service"}
	var out, cfgPath string
	systemd := &cobra.Command{
		Use:   "systemd -o FILE",
		Short: "Write a systemd unit that runs keyway start",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if self, err = filepath.EvalSymlinks(self); err != nil {
				return err
			}
			abs, err := filepath.Abs(cfgPath)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out != "stdout" && out != "-" {
				f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
				if err != nil {
					return err
				}
				defer func() { _ = f.Close() }()
				w = f
			}
			if err := unitTemplate.Execute(w, map[string]string{"Binary": self, "Config": abs}); err != nil {
				return err
			}
			if out != "stdout" && out != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s; enable it with: systemctl daemon-reload && systemctl enable --now %s\n", out, filepath.Base(out))
			}
			return nil
		},
	}
	systemd.Flags().StringVarP(&out, "output", "o", "/etc/systemd/system/keyway.service", "unit file to write, or stdout")
	systemd.Flags().StringVarP(&cfgPath, "config", "c", "/etc/keyway.hcl", "configuration the service starts with")
	cmd.AddCommand(systemd)
	return cmd
}
