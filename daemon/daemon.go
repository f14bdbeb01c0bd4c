// Package daemon builds one running pbxha from a validated config — probes,
// agent, pair or etcd runtime, alerts, sync, rebuild, metrics, control
// server — and runs it until its context ends, reloading on request.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pbxha/pbxha/agent"
	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/filesync"
	"github.com/pbxha/pbxha/internal/httpguard"
	"github.com/pbxha/pbxha/metrics"
	"github.com/pbxha/pbxha/pair"
	"github.com/pbxha/pbxha/rebuild"
	"github.com/pbxha/pbxha/sdnotify"
	"github.com/pbxha/pbxha/statuspage"
	"github.com/pbxha/pbxha/supervisor"
)

// Options are what Run takes besides the config: where its logs go, and the
// requests the caller (cmd/pbxha, from signals) sends while it runs.
type Options struct {
	// Logger receives every log line of the daemon; nil discards them.
	Logger *slog.Logger
	// Version is the release and commit as status, metrics and logs show
	// them: "1.2.0 (a1b2c3d4e5f6)".
	Version string
	// Reload asks for a reload on every receive; nil: never.
	Reload <-chan os.Signal
	// Load returns the config for a reload, checked as at start
	// (configs.Preflight); required with Reload.
	Load func() (*configs.Config, error)
	// SetLogLevel applies a reloaded config's log.level before anything
	// else is built from it; nil: the level stays.
	SetLogLevel func(level string) error
	// Stop asks the daemon to stop on the first receive, as the end of
	// Run's context does; the signal is logged. nil: only the context.
	Stop <-chan os.Signal
	// Restarting tells, when a pair is asked to stop through Stop, whether
	// the service manager is restarting pbxha's unit (the stop then keeps
	// the role) and which unit it is (internal/unitjob.Check). nil: a
	// stop always hands the service over.
	Restarting func(ctx context.Context) (restarting bool, unit string, err error)
}

// ConfigError is a refusal of the config Run was given: a part of the
// daemon did not build from it. Run's other errors are failures of this
// host at start (a socket in use, a state directory that cannot be made).
type ConfigError struct{ Err error }

// Error returns Err's message unchanged.
func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *ConfigError) Unwrap() error { return e.Err }

// daemon is one running pbxha: the parts that live from start to stop.
type daemon struct {
	opts    Options
	log     *slog.Logger
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
	pages pageReleaser
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

// Run runs pbxha on cfg, a config that passed configs.Preflight, until ctx
// is done or opts.Stop receives. Everything that can fail on the config is
// built before anything starts: a *ConfigError or another error then comes
// back and nothing runs. Run returns nil after a clean stop.
func Run(ctx context.Context, cfg *configs.Config, opts Options) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &daemon{opts: opts, log: logger, events: &event.Publisher{Node: cfg.Node.Name, Cluster: cfg.Node.Cluster},
		pages: newPageReleaser()}
	configErr := func(err error) error { return &ConfigError{Err: err} }

	// Build everything that can fail on the config before anything starts.
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("%s: state_dir: %w", cfg.Source, err)
	}
	var err error
	if d.sup, err = newSupervisor(cfg, logger, d.events, func() { d.agent.CheckRole() }); err != nil {
		return configErr(err)
	}
	if d.alerts, err = newDispatcher(cfg, logger); err != nil {
		return configErr(err)
	}
	evlog, err := event.OpenLog(eventLogPath(cfg), event.Retention{Keep: cfg.Events.Keep, MaxAge: cfg.Events.MaxAge}, logger.With("component", "eventlog"))
	if err != nil {
		return fmt.Errorf("%s: state_dir: %w", cfg.Source, err)
	}
	defer evlog.Close()
	d.events.Sinks = append(d.events.Sinks, evlog)
	if d.alerts != nil {
		d.events.Sinks = append(d.events.Sinks, d.alerts)
	}
	d.events.Sinks = append(d.events.Sinks, syncPoker{d}, &d.pages)
	checks, err := buildChecks(cfg, logger)
	if err != nil {
		return configErr(err)
	}
	switch {
	case cfg.UsesEtcd():
		if d.coord, err = newEtcd(cfg, d); err != nil {
			checks.Close()
			return err
		}
	case len(cfg.Peer.Paths) > 0:
		if d.pair, err = newPair(cfg, d); err != nil {
			checks.Close()
			return err
		}
		d.coord = d.pair
	}
	if d.sync, err = newSyncer(cfg, d); err == nil {
		d.rebuild, err = newRebuilder(cfg, d)
	}
	if err != nil {
		checks.Close()
		return err
	}
	ln, err := control.Listen(cfg.Control.Socket)
	if err != nil {
		checks.Close()
		return err
	}
	var mln net.Listener
	if cfg.Metrics.Listen != "" {
		if mln, err = metrics.Listen(cfg.Metrics.Listen); err != nil {
			ln.Close()
			checks.Close()
			return err
		}
		d.m = d.newMetrics(cfg)
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
		case s := <-opts.Stop:
			d.onStop(s)
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
	wg.Go(func() { d.reloadOnRequest(ctx, opts.Reload, cfg) })
	wg.Go(func() { d.pages.run(ctx, logger) })

	logger.Info("pbxha started", "version", opts.Version, "config", cfg.Source, "probes", len(checks.checks),
		"pbx", cfg.PBX.Supervise.Mode, "peer_paths", len(cfg.Peer.Paths), "socket", cfg.Control.Socket, "pid", os.Getpid(), "fd_limit", httpguard.FDLimit())
	d.agent.Run(ctx)
	wg.Wait()
	logger.Info("pbxha stopped")
	return nil
}

// eventLogPath is the local event log in the state directory.
func eventLogPath(cfg *configs.Config) string { return filepath.Join(cfg.StateDir, event.LogName) }
