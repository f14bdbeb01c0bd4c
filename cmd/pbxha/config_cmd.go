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
			Use:   "check [FILE]",
			Short: "Validate the config file and environment; print FILE: ok or every problem (exit 2)",
			Long: `Validate the config file and the PBXHA_ environment as ` + "`pbxha run`" + ` does before it
starts anything, and a SIGHUP reload before it takes a file: the rules of
every key, and the checks that need this host (key, secret, password and CA
files readable and well-formed, the key file not readable by group or
others, the PBX's user and group, the heartbeat addresses, the VIP's
interface). Run it as the user pbxha runs as, so that it reads what pbxha
reads. FILE, when given, is checked instead of -c/--config. Prints FILE: ok,
or every problem as FILE: KEY: MSG and exits 2.`,
			Args: cobra.MaximumNArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				if len(args) == 1 {
					if g.configPath != "" && g.configPath != args[0] {
						return usageErr(fmt.Errorf("config check: give the file as an argument or with -c, not both"))
					}
					g.configPath = args[0]
				}
				return configCheck(g)
			},
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

// configCheck runs the checks that `pbxha run` runs before it starts
// anything (startupConfig), and prints FILE: ok or every problem.
func configCheck(g *globals) error {
	c, err := startupConfig(g)
	var ce *configs.Error
	switch {
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			fmt.Fprintln(g.stderr, p)
		}
		return usageErr(fmt.Errorf("config check: %d problem(s) found", len(ce.Problems)))
	case err != nil:
		return err
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

// startupConfig loads the configuration named by -c (or the default one)
// and runs every check that would stop the daemon from starting with it:
// the rules of every key and the host checks (configs.Preflight). run, a
// SIGHUP reload and config check all take their config from here, so that
// config check accepts exactly what run accepts. Problems come back as a
// usage error (exit 2) listing each.
func startupConfig(g *globals) (*configs.Config, error) {
	c, err := configs.Preflight(g.configPath)
	if err != nil {
		return nil, usageErr(fmt.Errorf("invalid configuration:\n%w", err))
	}
	return c, nil
}
