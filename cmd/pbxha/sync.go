package main

import (
	"fmt"
	"os"

	"github.com/pbxha/pbxha/filesync"
	"github.com/spf13/cobra"
)

func newSyncCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync check-source",
		Short: "File sync helpers",
		Args:  cobra.NoArgs,
	}
	var marker string
	var mount bool
	check := &cobra.Command{
		Use:   "check-source [DIR]",
		Short: "Check a sync source before rsync serves it (the rsync daemon's pre-xfer exec)",
		Long: `Check that DIR (default: $RSYNC_MODULE_PATH, set by the rsync daemon) may be
served as a sync source: a directory, a mount point with --require-mount,
holding the --marker file, and not empty. pbxha's rsync daemon runs this
before every transfer, so that a disk that did not mount is never copied
(and its emptiness never propagated as deletions) to the standby.

Exit codes: 0 the source may be served, 1 refused (the reason on stdout,
which rsync passes to the pulling node), 2 usage.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			dir := os.Getenv("RSYNC_MODULE_PATH")
			if len(args) == 1 {
				dir = args[0]
			}
			if dir == "" {
				return usageErr(fmt.Errorf("sync check-source: no directory: give DIR or set RSYNC_MODULE_PATH"))
			}
			if err := filesync.CheckSource(dir, marker, mount); err != nil {
				fmt.Fprintln(g.stdout, err)
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	check.Flags().StringVar(&marker, "marker", "", "a file the source must hold")
	check.Flags().BoolVar(&mount, "require-mount", false, "the source must be a mount point")
	cmd.AddCommand(check)
	return cmd
}
