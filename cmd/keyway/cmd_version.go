package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/sdk"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print keyway's version and the plugin API versions it speaks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "keyway %s (%s, %s/%s)\nplugin API: v%d\n",
				version, runtime.Version(), runtime.GOOS, runtime.GOARCH, sdk.APIVersion)
			return err
		},
	}
}
