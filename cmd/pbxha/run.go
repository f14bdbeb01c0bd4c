package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/daemon"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/internal/buildinfo"
	"github.com/pbxha/pbxha/internal/timerslack"
	"github.com/pbxha/pbxha/internal/unitjob"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/spf13/cobra"
)

func newRunCmd(g *globals) *cobra.Command {
	var prof profiles
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the sidecar: probe the PBX, serve status and metrics",
		Long: `Run the sidecar in the foreground until SIGTERM or SIGINT.

SIGHUP reloads the config file: it is validated first, and when it has problems
the running config stays and the problems are logged. Probes that did not change
keep their state across a reload. log.format, control.socket and metrics.listen
take effect only at the next start.

Exit codes: 0 clean shutdown, 1 runtime failure (socket in use...), 2 bad config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := startupConfig(g)
			if err != nil {
				return err
			}
			if err := exportDaemonEnv(cfg); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			stopProfiles, err := prof.start()
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			// The daemon runs once cobra has returned (run), so that
			// the command line parser's frames are not on the stack a
			// node keeps for its whole life: every garbage collection
			// walks that stack through the executable's tables, and each
			// function on it keeps pages of them resident.
			ctx := cmd.Context()
			g.daemon = func() error {
				err := runDaemon(ctx, g, cfg)
				if perr := stopProfiles(); err == nil && perr != nil {
					err = &exitError{code: exitFailure, err: perr}
				}
				return err
			}
			return nil
		},
	}
	prof.flags(cmd)
	return cmd
}

// exportDaemonEnv sets PBXHA_CONFIG and PBXHA_SOCKET in the daemon's own
// environment, which the commands it runs inherit (hooks.Environ lets these
// two through): pbxha commands in a hook find this daemon.
func exportDaemonEnv(cfg *configs.Config) error {
	if cfg.Source != configs.EmbeddedSource {
		p, err := filepath.Abs(cfg.Source)
		if err != nil {
			return fmt.Errorf("run: %s: %w", cfg.Source, err)
		}
		if err := os.Setenv(hooks.EnvConfig, p); err != nil {
			return fmt.Errorf("run: %s: %w", hooks.EnvConfig, err)
		}
	} else {
		_ = os.Unsetenv(hooks.EnvConfig)
	}
	return os.Setenv(hooks.EnvSocket, cfg.Control.Socket)
}

// runDaemon runs pbxha on cfg (package daemon) until ctx is done or SIGTERM
// or SIGINT arrives; SIGHUP reloads from the same config path. Here the
// logger is set up, the signals become the daemon's stop and reload
// requests, and its errors become exit codes: 2 for a config a part of the
// daemon refused, 1 for a failure at start.
func runDaemon(ctx context.Context, g *globals, cfg *configs.Config) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	logger, level, err := newLogger(cfg.Log, g.stderr)
	if err != nil {
		return usageErr(fmt.Errorf("%s: %w", cfg.Source, err))
	}
	logger = logger.With("node", cfg.Node.Name)
	sipcheck.RouteLibraryLogs(logger.With("component", "sipgo"))
	probe.RouteMySQLLogs(logger)
	if os.Getenv("GOMAXPROCS") == "" {
		// A node's Go code runs on one thread: its work at rest comes in
		// small bursts (a heartbeat, a SIP check, a lease renewal), and a
		// second one only added a thread woken to spin at each hand-off —
		// a fifth of a pair node's CPU at rest, a third of an etcd
		// node's (docs/BENCHMARKS.md). GOMAXPROCS in the environment wins.
		runtime.GOMAXPROCS(1)
	}
	// The kernel may fire the node's timers up to a millisecond late, so
	// that it folds the runtime's wake-ups (package timerslack).
	if n, err := timerslack.Set(timerslack.Default); err != nil {
		logger.Info("timer slack not set on every thread (it needs root or CAP_SYS_NICE): more CPU at rest", "slack", timerslack.Default, "threads", n, "err", err)
	} else {
		logger.Debug("timer slack set", "slack", timerslack.Default, "threads", n)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	err = daemon.Run(ctx, cfg, daemon.Options{
		Logger:      logger,
		Version:     buildinfo.String(),
		Reload:      hup,
		Load:        func() (*configs.Config, error) { return startupConfig(g) },
		SetLogLevel: func(name string) error { return setLevel(level, name) },
		Stop:        sigs,
		// systemd restarting the unit (an upgrade) keeps a primary's role.
		Restarting: func(ctx context.Context) (bool, string, error) { return unitjob.Check(ctx, "") },
	})
	var ce *daemon.ConfigError
	switch {
	case errors.As(err, &ce):
		return usageErr(ce.Err)
	case err != nil:
		return &exitError{code: exitFailure, err: err}
	}
	return nil
}
