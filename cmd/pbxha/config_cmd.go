package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pbxha/pbxha/configs"
	"github.com/spf13/cobra"
)

// newConfigCmd builds `pbxha config` with its check, show and default
// subcommands. The file comes from the -c/--config persistent flag.
func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration, show the effective one, or print the default",
		// As on the root: problems are printed once, by check or by run().
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "check",
			Short: "Validate the config file and environment; print FILE: ok or every problem (exit 2)",
			Args:  cobra.NoArgs,
			RunE:  func(*cobra.Command, []string) error { return configCheck(g) },
		},
		&cobra.Command{
			Use:   "show",
			Short: "Print the effective configuration (file, defaults and PBXHA_ environment) as YAML, secrets redacted",
			Args:  cobra.NoArgs,
			RunE:  func(*cobra.Command, []string) error { return configShow(g) },
		},
		&cobra.Command{
			Use:   "default",
			Short: "Print the built-in default configuration, fully commented, as a starting file",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				_, err := g.stdout.Write(configs.Default())
				return err
			},
		},
	)
	return cmd
}

func configCheck(g *globals) error {
	c, err := configs.Load(g.configPath)
	var ce *configs.Error
	switch {
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			fmt.Fprintln(g.stderr, p)
		}
		return usageErr(fmt.Errorf("config check: %d problem(s) found", len(ce.Problems)))
	case err != nil:
		return usageErr(err)
	}
	fmt.Fprintf(g.stdout, "%s: ok\n", c.Source)
	return nil
}

func configShow(g *globals) error {
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	out, err := configs.Marshal(c.Redacted())
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "# effective configuration from %s\n", c.Source)
	if len(c.Env) > 0 {
		fmt.Fprintf(g.stdout, "# environment overrides: %s\n", strings.Join(c.Env, ", "))
	}
	_, err = g.stdout.Write(out)
	return err
}

// loadConfig loads and validates the configuration named by -c (or the
// default one). Problems come back as a usage error (exit 2) listing each.
func loadConfig(g *globals) (*configs.Config, error) {
	c, err := configs.Load(g.configPath)
	if err != nil {
		return nil, usageErr(fmt.Errorf("invalid configuration:\n%w", err))
	}
	return c, nil
}
