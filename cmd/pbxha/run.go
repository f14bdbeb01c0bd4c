package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/agent"
	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/filesync"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/internal/httpguard"
	"github.com/pbxha/pbxha/metrics"
	"github.com/pbxha/pbxha/pair"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/rebuild"
	"github.com/pbxha/pbxha/sdnotify"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/statuspage"
	"github.com/pbxha/pbxha/supervisor"
	"github.com/pbxha/pbxha/vip"
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
			err = runDaemon(cmd.Context(), g, cfg)
			if perr := stopProfiles(); err == nil && perr != nil {
				err = &exitError{code: exitFailure, err: perr}
			}
			return err
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

// daemon is one running pbxha: the parts that live from start to stop.
type daemon struct {
	g       *globals
	log     *slog.Logger
	level   *slog.LevelVar
	events  *event.Publisher
	agent   *agent.Agent
	m       *metrics.Metrics       // nil without metrics.listen
	sup     *supervisor.Supervisor // nil with pbx.supervise.mode none
	alerts  *alert.Dispatcher      // nil without alerts.endpoints
	pair    *pair.Pair             // nil unless mode pair (peer.paths)
	sync    *filesync.Syncer       // nil without sync.directories
	rebuild *rebuild.Rebuilder     // nil without database.data_dir and start_command
	// coord is the pair or the etcd runtime; nil in mode single.
	coord coordinator
}

// coordinator is what the daemon runs to coordinate the nodes: the pair
// (*pair.Pair) or the etcd runtime (*etcdha.Runtime).
type coordinator interface {
	Run(ctx context.Context)
	Poke()
	Status() (string, control.Pair)
	Switchover(ctx context.Context, to string, drain time.Duration, force bool) (control.SwitchoverResult, error)
	Problem() error
	VIPHeld() (held, ok bool)
}

// runDaemon runs pbxha on cfg until ctx is done. SIGHUP reloads from the
// same config path.
func runDaemon(ctx context.Context, g *globals, cfg *configs.Config) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
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
	d := &daemon{g: g, log: logger, level: level, events: &event.Publisher{Node: cfg.Node.Name, Cluster: cfg.Node.Cluster}}

	// Build everything that can fail on the config before anything starts.
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s: state_dir: %w", cfg.Source, err)}
	}
	if d.sup, err = newSupervisor(cfg, logger, d.events, func() { d.agent.CheckRole() }); err != nil {
		return usageErr(err)
	}
	if d.alerts, err = newDispatcher(cfg, logger); err != nil {
		return usageErr(err)
	}
	evlog, err := event.OpenLog(eventLogPath(cfg), event.Retention{Keep: cfg.Events.Keep, MaxAge: cfg.Events.MaxAge}, logger.With("component", "eventlog"))
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s: state_dir: %w", cfg.Source, err)}
	}
	defer evlog.Close()
	d.events.Sinks = append(d.events.Sinks, evlog)
	if d.alerts != nil {
		d.events.Sinks = append(d.events.Sinks, d.alerts)
	}
	d.events.Sinks = append(d.events.Sinks, syncPoker{d})
	checks, err := buildChecks(cfg, logger)
	if err != nil {
		return usageErr(err)
	}
	switch {
	case cfg.UsesEtcd():
		if d.coord, err = newEtcd(cfg, d); err != nil {
			checks.Close()
			return &exitError{code: exitFailure, err: err}
		}
	case len(cfg.Peer.Paths) > 0:
		if d.pair, err = newPair(cfg, d); err != nil {
			checks.Close()
			return &exitError{code: exitFailure, err: err}
		}
		d.coord = d.pair
	}
	if d.sync, err = newSyncer(cfg, d); err == nil {
		d.rebuild, err = newRebuilder(cfg, d)
	}
	if err != nil {
		checks.Close()
		return &exitError{code: exitFailure, err: err}
	}
	ln, err := control.Listen(cfg.Control.Socket)
	if err != nil {
		checks.Close()
		return &exitError{code: exitFailure, err: err}
	}
	var mln net.Listener
	if cfg.Metrics.Listen != "" {
		if mln, err = metrics.Listen(cfg.Metrics.Listen); err != nil {
			ln.Close()
			checks.Close()
			return &exitError{code: exitFailure, err: err}
		}
		// The metrics read the agent's health, and the agent feeds them.
		d.m = metrics.New(func() probe.Health { return d.agent.Health() })
		d.m.SetInfo(cfg.Node.Name, cfg.Node.Cluster, buildVersion(), func() string { return d.agent.Role() })
		if d.coord != nil {
			d.m.SetProblem(d.coord.Problem)
		}
		if d.alerts != nil {
			d.m.AlertFuncs(alertCounters(d.alerts))
		}
		if d.sync != nil || d.rebuild != nil {
			var sy func() control.Sync
			var rb func() *control.Rebuild
			if d.sync != nil {
				sy = d.sync.Status
			}
			if d.rebuild != nil {
				rb = d.rebuild.Status
			}
			d.m.SyncFuncs(sy, rb)
		}
		d.events.Sinks = append(d.events.Sinks, d.m) // takeovers and PBX restarts
	}
	d.agent = agent.New(d.agentConfig(cfg, checks), logger, d.events)
	if d.m != nil {
		d.m.SetHA(d.haMetrics(cfg))
		d.m.SetPage(statuspage.Handler(statuspage.Source{Status: d.agent.Status, Logger: logger,
			Events: func() []event.Event { evs, _ := event.ReadLog(eventLogPath(cfg), time.Time{}); return evs }}))
	}

	var wg sync.WaitGroup
	if mln != nil {
		wg.Go(func() {
			if err := d.m.Serve(ctx, mln, logger); err != nil {
				logger.Error("metrics listener stopped", "err", err)
			}
		})
	}
	if d.alerts != nil {
		// Delivery runs apart from probes and decisions and never blocks them.
		wg.Go(func() { d.alerts.Run(ctx) })
	}
	api := control.API{Status: d.agent.Status, Maintenance: d.agent.SetMaintenance,
		Restart: func() error {
			logger.Info("restart asked on the control socket: stopping, the role is kept")
			d.keepRole()
			stop()
			return nil
		}}
	wg.Go(func() {
		select {
		case s := <-sigs:
			d.onStopSignal(s)
			stop()
		case <-ctx.Done():
		}
	})
	if d.coord != nil {
		wg.Go(func() { d.coord.Run(ctx) })
		api.Switchover = d.coord.Switchover
	}
	if d.sync != nil {
		wg.Go(func() {
			if err := d.sync.Run(ctx); err != nil {
				logger.Error("file sync stopped", "err", err)
			}
		})
	}
	if d.rebuild != nil {
		wg.Go(func() { d.rebuild.Run(ctx) })
		api.Rebuild = func(rctx context.Context) error { return d.rebuild.Start(rctx, "operator") }
	}
	if d.sup != nil {
		api.PBX = pbxAction(d.sup)
		wg.Go(func() {
			if err := d.sup.Run(ctx); err != nil {
				logger.Error("PBX supervisor stopped", "err", err)
			}
		})
	}
	wg.Go(func() {
		if err := control.Serve(ctx, ln, control.NewHandler(api), logger); err != nil {
			logger.Error("control API stopped", "err", err)
		}
	})
	notifier, err := sdnotify.FromEnv()
	if err != nil {
		logger.Warn("not notifying systemd", "err", err)
		notifier, _ = sdnotify.New("", "", "", 0)
	}
	defer notifier.Close()
	wg.Go(func() { sdnotify.KeepAlive(ctx, notifier, sdService{d.agent}, stuckAfter(checks), logger) })

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() { d.reloadOnHUP(ctx, hup, cfg) })

	logger.Info("pbxha started", "version", buildVersion(), "config", cfg.Source, "probes", len(checks.checks),
		"pbx", cfg.PBX.Supervise.Mode, "peer_paths", len(cfg.Peer.Paths), "socket", cfg.Control.Socket, "pid", os.Getpid(), "fd_limit", httpguard.FDLimit())
	d.agent.Run(ctx)
	wg.Wait()
	logger.Info("pbxha stopped")
	return nil
}

// haMetrics wires the HA dashboard's metrics to the agent, the pair and the
// supervisor. The VIP is asked only where that is cheap: netlink, or a
// script without a check command.
func (d *daemon) haMetrics(cfg *configs.Config) metrics.HA {
	ha := metrics.HA{Role: d.agent.Role, Maintenance: d.agent.Maintenance, Reload: d.agent.ReloadState}
	if d.coord != nil {
		ha.Pair = func() (control.Pair, bool) { _, p := d.coord.Status(); return p, true }
		if cfg.VIP.Mode == string(vip.ModeNetlink) || (cfg.VIP.Mode == string(vip.ModeScript) && len(cfg.VIP.Script.Check) == 0) {
			ha.VIPHeld = d.coord.VIPHeld
		}
	}
	if d.sup != nil {
		sup, sc := d.sup, cfg.PBX.Supervise
		ha.PBX = func() (control.PBX, bool) { return pbxStatus(sup, sc), true }
	}
	return ha
}

func maxInterval(s *checkSet) time.Duration {
	var m time.Duration
	for _, c := range s.checks {
		m = max(m, c.Interval)
	}
	return max(m, time.Second)
}

// agentConfig is the agent's view of cfg, wired to the daemon's other parts.
func (d *daemon) agentConfig(cfg *configs.Config, checks *checkSet) agent.Config {
	ac := agent.Config{
		Node: cfg.Node.Name, Cluster: cfg.Node.Cluster, History: cfg.History, Source: cfg.Source,
		MaintenanceFile: filepath.Join(cfg.StateDir, agent.MaintenanceFileName),
		Version:         buildVersion(), Checks: checks.checks, Close: checks.Close,
	}
	if d.m != nil {
		ac.OnResult = d.m.Observe
	}
	if d.alerts != nil {
		ac.Alerts = func() control.Alerts { return alertsStatus(d.alerts) }
	}
	if d.coord != nil {
		ac.Pair = d.coord.Status
		if cfg.UsesEtcd() {
			ac.Mode = configs.CoordinationEtcd
		}
	}
	if d.sync != nil {
		ac.Sync = d.sync.Status
	}
	if d.rebuild != nil {
		ac.Rebuild = d.rebuild.Status
	}
	if d.sup != nil {
		sup, sc := d.sup, cfg.PBX.Supervise
		ac.PBX = func() control.PBX { return pbxStatus(sup, sc) }
		ac.OnServiceFailed = sup.ServiceFailed
		ac.OnMaintenance = sup.SetMaintenance
	}
	if d.coord != nil {
		// The node decides on events: a probe's change and maintenance
		// mode are decided on at once.
		ac.OnStateChange = d.coord.Poke
		onMaint := ac.OnMaintenance
		ac.OnMaintenance = func(on bool) {
			if onMaint != nil {
				onMaint(on)
			}
			d.coord.Poke()
		}
	}
	return ac
}

// reloadOnHUP reloads the config on every SIGHUP. A config with problems is
// refused, logged, and shown in status; the running one stays.
func (d *daemon) reloadOnHUP(ctx context.Context, hup <-chan os.Signal, running *configs.Config) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		d.log.Info("SIGHUP: reloading config")
		next, err := startupConfig(d.g)
		if err == nil {
			err = setLevel(d.level, next.Log.Level)
		}
		var checks *checkSet
		if err == nil {
			checks, err = buildChecks(next, d.log)
		}
		if err != nil {
			d.log.Error("config reload refused; keeping the running config", "err", err)
			d.agent.ReloadFailed(err)
			continue
		}
		// The supervisor, alert delivery and the pair keep their running
		// config: a reload never restarts the PBX, reopens the outbox or
		// touches the VIP.
		pending := configs.KeepRestartOnly(running, next)
		for _, key := range pending {
			d.log.Warn("setting changed but takes effect only at the next start", "key", key)
		}
		if d.pair != nil {
			// The heartbeat keys are read again: a key change (docs/pair.md)
			// takes a SIGHUP on each node, never a restart.
			keys, err := next.HeartbeatKeys()
			if err == nil {
				err = d.pair.SetKeys(keys)
			}
			if err != nil {
				d.log.Error("heartbeat keys not reloaded; the running keys stay", "err", err)
			} else {
				d.log.Info("heartbeat keys reloaded", "next_key", next.Peer.NextKeyFile != "")
			}
		}
		if d.m != nil {
			d.m.ResetProbes()
		}
		ac := d.agentConfig(next, checks)
		ac.PendingRestart = pending
		if err := d.agent.Reload(ctx, ac); err != nil {
			checks.Close()
			return
		}
		running = next
	}
}
