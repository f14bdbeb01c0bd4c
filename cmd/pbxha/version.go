package main

import (
	"fmt"

	"github.com/pbxha/pbxha/internal/buildinfo"
	"github.com/spf13/cobra"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the pbxha release, the commit it was built from, and the Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(g.stdout, buildinfo.Line())
			return nil
		},
	}
}
