//go:build !pbxha_gendoc

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errNoMan is what `pbxha gen man` says in the binary that runs nodes: the
// man page generator (cobra/doc, with a Markdown renderer) is left out of
// it, since its package initialisation kept about 140 KiB on the heap of
// every running node (docs/BENCHMARKS.md, "Memory at rest").
var errNoMan = errors.New("man pages need a binary built with -tags pbxha_gendoc")

func genMan(*cobra.Command, string) error { return errNoMan }
