package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/agent"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/metrics"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sdnotify"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/spf13/cobra"
)

func newRunCmd(g *globals) *cobra.Command {
	return &cobra.Command{
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
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDaemon(ctx, g, cfg)
		},
	}
}

// runDaemon runs pbxha on cfg until ctx is done. SIGHUP reloads from the
// same config path.
func runDaemon(ctx context.Context, g *globals, cfg *configs.Config) error {
	logger, level, err := newLogger(cfg.Log, g.stderr)
	if err != nil {
		return usageErr(fmt.Errorf("%s: %w", cfg.Source, err))
	}
	logger = logger.With("node", cfg.Node.Name)
	sipcheck.RouteLibraryLogs(logger.With("component", "sipgo"))

	checks, err := buildChecks(cfg, logger)
	if err != nil {
		return usageErr(err)
	}
	ln, err := control.Listen(cfg.Control.Socket)
	if err != nil {
		checks.Close()
		return &exitError{code: exitFailure, err: err}
	}

	events := &event.Publisher{Node: cfg.Node.Name, Cluster: cfg.Node.Cluster}

	// The metrics read the agent's health and the agent feeds the metrics:
	// build both, then start serving.
	var a *agent.Agent
	var m *metrics.Metrics
	if cfg.Metrics.Listen != "" {
		mln, err := metrics.Listen(cfg.Metrics.Listen)
		if err != nil {
			ln.Close()
			checks.Close()
			return &exitError{code: exitFailure, err: err}
		}
		m = metrics.New(func() probe.Health { return a.Health() })
		m.SetInfo(cfg.Node.Name, cfg.Node.Cluster, "primary", version)
		a = agent.New(agentConfig(cfg, checks, m), logger, events)
		go func() {
			if err := m.Serve(ctx, mln, logger); err != nil {
				logger.Error("metrics listener stopped", "err", err)
			}
		}()
	} else {
		a = agent.New(agentConfig(cfg, checks, nil), logger, events)
	}

	notifier, err := sdnotify.FromEnv()
	if err != nil {
		logger.Warn("not notifying systemd", "err", err)
		notifier, _ = sdnotify.New("", "", "", 0)
	}
	defer notifier.Close()
	notifyDone := make(chan struct{})
	go func() {
		notifySystemd(ctx, notifier, a, maxInterval(checks), logger)
		close(notifyDone)
	}()

	serveDone := make(chan error, 1)
	go func() {
		serveDone <- control.Serve(ctx, ln, control.NewHandler(control.API{Status: a.Status, Maintenance: a.SetMaintenance}), logger)
	}()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, hup, g, cfg, a, m, level, logger)

	logger.Info("pbxha started", "version", version, "config", cfg.Source, "probes", len(checks.checks),
		"socket", cfg.Control.Socket, "pid", os.Getpid())
	a.Run(ctx)
	<-notifyDone
	if err := <-serveDone; err != nil {
		logger.Error("control API stopped", "err", err)
	}
	logger.Info("pbxha stopped")
	return nil
}

func maxInterval(s *checkSet) time.Duration {
	var m time.Duration
	for _, c := range s.checks {
		m = max(m, c.Interval)
	}
	return max(m, time.Second)
}

func agentConfig(cfg *configs.Config, checks *checkSet, m *metrics.Metrics) agent.Config {
	ac := agent.Config{
		Node: cfg.Node.Name, Cluster: cfg.Node.Cluster, History: cfg.History, Source: cfg.Source,
		Version: version, Checks: checks.checks, Close: checks.Close,
	}
	if m != nil {
		ac.OnResult = m.Observe
	}
	return ac
}

// reloadOnHUP reloads the config on every SIGHUP. A config with problems is
// refused, logged, and shown in status; the running one stays.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, g *globals, running *configs.Config,
	a *agent.Agent, m *metrics.Metrics, level *slog.LevelVar, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		logger.Info("SIGHUP: reloading config")
		next, err := loadConfig(g)
		if err == nil {
			err = setLevel(level, next.Log.Level)
		}
		var checks *checkSet
		if err == nil {
			checks, err = buildChecks(next, logger)
		}
		if err != nil {
			logger.Error("config reload refused; keeping the running config", "err", err)
			a.ReloadFailed(err)
			continue
		}
		warnRestartOnly(logger, running, next)
		if m != nil {
			m.ResetProbes()
		}
		if err := a.Reload(ctx, agentConfig(next, checks, m)); err != nil {
			checks.Close()
			return
		}
		running = next
	}
}

// warnRestartOnly logs settings that a reload cannot change.
func warnRestartOnly(logger *slog.Logger, old, next *configs.Config) {
	for _, d := range []struct{ key, old, next string }{
		{"log.format", old.Log.Format, next.Log.Format},
		{"control.socket", old.Control.Socket, next.Control.Socket},
		{"metrics.listen", old.Metrics.Listen, next.Metrics.Listen},
		{"node.name", old.Node.Name, next.Node.Name},
	} {
		if d.old != d.next {
			logger.Warn("setting changed but takes effect only at the next start", "key", d.key, "running", d.old, "file", d.next)
		}
	}
}
