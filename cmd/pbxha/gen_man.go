//go:build pbxha_gendoc

package main

import (
	"github.com/pbxha/pbxha/internal/buildinfo"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// genMan writes pbxha.1 and a page per subcommand (pbxha-status.1 ...).
// The date is left out so that two builds of one commit are identical.
func genMan(root *cobra.Command, dir string) error {
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "PBXHA", Section: "1", Source: "pbxha " + buildinfo.String(), Manual: "pbxha manual"}
	return doc.GenManTree(root, hdr, dir)
}
