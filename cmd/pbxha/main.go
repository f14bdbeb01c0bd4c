// Command pbxha is the high-availability sidecar for IP PBX pairs. This file
// holds the root command, the shared flags and the exit-code convention; each
// subcommand lives in its own file.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	exitOK       = 0
	exitFailure  = 1 // the command ran and what it checked failed
	exitUsage    = 2 // bad flags, arguments or configuration
	exitNoDaemon = 3 // no pbxha daemon answered on the control socket
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error // printed to stderr when non-nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErr reports a usage or configuration problem (exit 2).
func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// globals are the flags and streams every subcommand shares.
type globals struct {
	configPath string // -c/--config, else PBXHA_CONFIG; empty means /etc/pbxha/pbxha.yaml if it exists, else the embedded default
	stdout     io.Writer
	stderr     io.Writer
	// daemon is what `pbxha run` left to run after the command line was
	// parsed: run calls it once cobra's Execute has returned.
	daemon func() error
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "pbxha",
		Short:         "High-availability sidecar for IP PBX pairs (FreeSWITCH, Asterisk, Kamailio)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "", "config file (default $PBXHA_CONFIG, else /etc/pbxha/pbxha.yaml when it exists, else the embedded default)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.PersistentPreRun = func(*cobra.Command, []string) { configPathDefault(g) }
	root.AddCommand(
		newVersionCmd(g),
		newProbeCmd(g),
		newRunCmd(g),
		newStatusCmd(g),
		newDemoCmd(g),
		newConfigCmd(g),
		newPBXCmd(g),
		newMaintenanceCmd(g),
		newRestartCmd(g),
		newAlertCmd(g),
		newEventsCmd(g),
		newKeygenCmd(g),
		newSwitchoverCmd(g),
		newSyncCmd(g),
		newStandbyCmd(g),
		newGenCmd(g),
	)
	return root
}

// run executes the CLI and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil && g.daemon != nil {
		err = g.daemon()
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "pbxha:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "pbxha:", err)
	// cobra reports unknown commands and bad arguments as plain errors.
	return exitUsage
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
