package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// newGenCmd builds the hidden `pbxha gen man|completions DIR`, which writes
// what the Debian package ships from this very command tree: a man page per
// command, and the bash, zsh and fish completion scripts. The man pages need
// a binary built with -tags pbxha_gendoc (gen_man.go); packaging/deb/build.sh
// builds one for them.
func newGenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "gen man|completions DIR",
		Short:  "Write the man pages or the shell completion scripts into DIR (packaging)",
		Hidden: true,
		Args: cobra.MatchAll(cobra.ExactArgs(2), func(_ *cobra.Command, args []string) error {
			if args[0] != "man" && args[0] != "completions" {
				return fmt.Errorf("gen: %q: want man or completions", args[0])
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[1]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("gen: %w", err)}
			}
			root := cmd.Root()
			var err error
			if args[0] == "man" {
				err = genMan(root, dir)
			} else {
				err = genCompletions(root, dir)
			}
			if err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("gen %s %s: %w", args[0], dir, err)}
			}
			fmt.Fprintf(g.stdout, "gen %s: wrote %s\n", args[0], dir)
			return nil
		},
	}
	return cmd
}

// genCompletions writes the completion scripts under the names and in the
// folders the shells' packages look in: bash-completion/completions/pbxha,
// zsh/vendor-completions/_pbxha, fish/vendor_completions.d/pbxha.fish.
func genCompletions(root *cobra.Command, dir string) error {
	for _, c := range []struct {
		path string
		gen  func(f *os.File) error
	}{
		{"bash-completion/completions/pbxha", func(f *os.File) error { return root.GenBashCompletionV2(f, true) }},
		{"zsh/vendor-completions/_pbxha", func(f *os.File) error { return root.GenZshCompletion(f) }},
		{"fish/vendor_completions.d/pbxha.fish", func(f *os.File) error { return root.GenFishCompletion(f, true) }},
	} {
		p := filepath.Join(dir, c.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		err = c.gen(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
