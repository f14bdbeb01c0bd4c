package main

import (
	"fmt"

	"github.com/pbxha/pbxha/failover"
	"github.com/spf13/cobra"
)

// defaultKeyPath is where the shared heartbeat key lives by default.
const defaultKeyPath = "/etc/pbxha/pbxha.key"

func newKeygenCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen [FILE]",
		Short: "Write a new random key for authenticating the peer heartbeats",
		Long: `Write 32 random bytes, hex encoded, to FILE (default ` + defaultKeyPath + `)
with mode 0600. It refuses to overwrite an existing file. Copy the same file to
both nodes of the pair: heartbeats are signed with HMAC-SHA256 under this key.

Exit codes: 0 written, 1 could not write (exists, permissions), 2 usage.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			path := defaultKeyPath
			if len(args) == 1 {
				path = args[0]
			}
			if err := failover.GenerateKey(path); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			fmt.Fprintf(g.stdout, "wrote %s (mode 0600); copy it to the peer node\n", path)
			return nil
		},
	}
}
