// Package etcdha runs a pbxha node of a cluster coordinated through etcd:
// it keeps the node's lease alive and its member key published, watches
// the cluster's keys, decides with coord.Decide, takes the leader key
// before it takes the resources over (through the act package) and gives
// it up after releasing them, steps down before its lease can expire when
// it cannot renew it, and reports every node for the control API.
package etcdha

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/coord"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/clock"
	"github.com/pbxha/pbxha/linkwatch"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/vip"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Defaults of the etcd section.
const (
	DefaultPrefix      = "/pbxha"
	DefaultLeaseTTL    = 2 * time.Second
	DefaultPriority    = 100
	DefaultDialTimeout = 2 * time.Second
	// RetryDelay is how long a failed action waits before it is tried
	// again (a step-down: StepDownRetry).
	RetryDelay    = 2 * time.Second
	StepDownRetry = 200 * time.Millisecond
	// AnnounceEvery is how often a changed database position is published
	// at most.
	AnnounceEvery = time.Second
)

// Config is what the etcd runtime runs on.
type Config struct {
	Cluster, Node string
	Endpoints     []string    // etcd client URLs
	Prefix        string      // key prefix; the cluster's keys live under <prefix>/<cluster>/
	TLS           *tls.Config // nil: plain
	Username      string      // etcd user ("": no authentication)
	Password      string
	Priority      int          // higher leads first; 0 never leads
	Policy        coord.Policy // LeaseTTL, StepDown, Tick, lag, mode, failback
	TieBreakers   []string     // host:port targets (optional)
	VIPAddr       string       // for status and the hooks' environment
	// VIP is the service address's backend (nil with vip.mode none): it is
	// removed at start and at stop.
	VIP       *vip.VIP
	Resources act.Resources // what a leader holds; its VIP is taken from VIP
	Rejoin    bool          // act.Config.Rejoin
	// RejoinAdvice is act.Config.RejoinAdvice: what a failed rejoin's
	// event tells the operator to do (there is no standby rebuild here).
	RejoinAdvice string
	// LeaveTimeout bounds the release of a leader that stops.
	LeaveTimeout    time.Duration
	TrackInterfaces []string
	// States, Checks and Maintenance read the node's probes and
	// maintenance mode; DB says a database is managed.
	States      func() []probe.CheckState
	Checks      func() []probe.Check
	Maintenance func() bool
	DB          bool
	OnEvent     func(event.Event) // must not block
	Logger      *slog.Logger
	// Clock is where the runtime reads the time and arms its timers
	// (clock.Real when nil). etcd's own timing (the lease's TTL) runs on
	// the server's clock.
	Clock clock.Clock
}

// Runtime is one running node. Its methods may be called concurrently
// with Run.
type Runtime struct {
	cfg   Config
	k     keys
	cli   *clientv3.Client
	act   *act.Actuators
	tb    *act.TieBreaker
	src   act.Sources
	log   *slog.Logger
	clock clock.Clock
	start time.Time

	poke      chan struct{}
	decisions atomic.Uint64 // decisions taken, for tests
	vipState  atomic.Uint32
	linkDown  atomic.Value // string

	mu sync.Mutex
	st state // guarded by mu
}

// New builds the runtime and its etcd client (which connects lazily);
// nothing runs until Run.
func New(cfg Config) (*Runtime, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Policy.LeaseTTL <= 0 {
		cfg.Policy.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Policy.Tick <= 0 {
		cfg.Policy.Tick = coord.DefaultTick
	}
	clk := clock.Or(cfg.Clock)
	r := &Runtime{cfg: cfg, k: newKeys(cfg.Prefix, cfg.Cluster), log: cfg.Logger, clock: clk, poke: make(chan struct{}, 1), start: clk.Now()}
	r.linkDown.Store("")
	r.st.view.members = map[string]memberDoc{}
	r.st.role = failover.RoleInit
	r.st.eligibleSince = map[string]time.Time{}
	r.st.retryAt = map[failover.Action]time.Time{}
	r.st.failing = map[failover.Action]bool{}
	r.st.budget = cfg.Policy.StepDown
	r.cfg.OnEvent = func(e event.Event) {
		e.Node, e.Cluster = cfg.Node, cfg.Cluster
		if cfg.OnEvent != nil {
			cfg.OnEvent(e)
		}
	}
	// No witness and no fence: etcd grants the leader key only once the
	// old leader's lease expired, and the old leader stepped down before.
	// A release stops the database before the VIP goes (act DBFirst): the
	// standbys stream through the VIP, as no node knows the next leader's
	// own address.
	res := cfg.Resources
	res.Witness, res.Fence = nil, nil
	if cfg.VIP != nil {
		res.VIP = trackedVIP{VIP: cfg.VIP, state: &r.vipState}
	}
	r.act = act.New(act.Config{Node: cfg.Node, VIPAddr: cfg.VIPAddr, Rejoin: cfg.Rejoin, RejoinAdvice: cfg.RejoinAdvice,
		DBFirst: true, Logger: r.log, OnEvent: r.cfg.OnEvent}, res)
	if len(cfg.TieBreakers) > 0 {
		r.tb = act.NewTieBreaker(cfg.TieBreakers, cfg.Policy.LeaseTTL, clk)
		r.tb.Notify(r.Poke) // an answer turning decides at once
		r.cfg.Policy.TieBreakers = true
	}
	r.src = act.Sources{States: cfg.States, Checks: cfg.Checks, Maintenance: cfg.Maintenance, DB: cfg.DB,
		PBX: res.PBX, TieBreaker: r.tb,
		VIP:      func() failover.VIPState { return failover.VIPState(r.vipState.Load()) },
		LinkDown: func() string { return r.linkDown.Load().(string) }}
	if cfg.VIP == nil {
		r.src.VIP = nil
	}
	if len(cfg.TrackInterfaces) == 0 {
		r.src.LinkDown = nil
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Endpoints, DialTimeout: DefaultDialTimeout, TLS: cfg.TLS,
		Username: cfg.Username, Password: cfg.Password,
		DialKeepAliveTime: cfg.Policy.LeaseTTL, DialKeepAliveTimeout: cfg.Policy.LeaseTTL,
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcdha: client %v: %w", cfg.Endpoints, err)
	}
	r.cli = cli
	return r, nil
}

// Poke asks for a decision now (the local health changed).
func (r *Runtime) Poke() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// Run runs the node until ctx is done. A node starts without the VIP; a
// leader that stops releases everything, then gives up the leader key, so
// the next leader takes over at once. The PBX keeps running either way.
func (r *Runtime) Run(ctx context.Context) {
	if v := r.cfg.VIP; v != nil {
		if removed, err := v.EnsureAbsent(ctx); err != nil {
			r.log.Error("could not make sure this node does not hold the VIP at start-up", "err", err)
		} else if removed {
			r.log.Warn("removed the VIP left on this node; it starts as standby")
		}
	}
	var wg sync.WaitGroup
	lctx, cancel := context.WithCancel(context.Background())
	if r.tb != nil {
		wg.Go(func() { r.tb.RunEvery(lctx, r.cfg.Policy.LeaseTTL/5) })
	}
	wg.Go(func() { r.keepLease(lctx) })
	wg.Go(func() { r.watchCluster(lctx) })
	r.watchLocal(lctx)
	r.loop(ctx)
	r.leave()
	cancel()
	wg.Wait()
	if v := r.cfg.VIP; v != nil {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		if err := v.Down(sctx); err != nil {
			r.log.Error("could not release the VIP at shutdown", "err", err)
		}
		c()
		v.Close()
	}
	_ = r.act.WaitRejoin(context.Background())
	r.cli.Close()
}

// watchLocal starts the VIP and link watchers.
func (r *Runtime) watchLocal(ctx context.Context) {
	if v := r.cfg.VIP; v != nil {
		go func() {
			err := v.Watch(ctx, func(held bool) {
				st := failover.VIPAbsent
				if held {
					st = failover.VIPHeld
				}
				r.vipState.Store(uint32(st))
				r.Poke()
			})
			if err != nil && ctx.Err() == nil {
				r.log.Error("VIP watch stopped: the VIP is no longer tracked", "err", err)
				r.vipState.Store(uint32(failover.VIPUntracked))
			}
		}()
	}
	if len(r.cfg.TrackInterfaces) > 0 {
		go func() {
			err := linkwatch.Watch(ctx, r.cfg.TrackInterfaces, func(down string) {
				r.linkDown.Store(down)
				r.Poke()
			})
			if err != nil && ctx.Err() == nil {
				r.log.Error("link watch stopped: the tracked interfaces are no longer watched", "err", err)
				r.linkDown.Store("")
			}
		}()
	}
}

// String names the runtime for errors.
func (r *Runtime) String() string { return fmt.Sprintf("etcd %s/%s", r.cfg.Cluster, r.cfg.Node) }
