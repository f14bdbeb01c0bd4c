package configs

import (
	"fmt"
	"time"

	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/ami"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/esl"
	"github.com/pbxha/pbxha/etcdha"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/filesync"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/mysqlrole"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/rebuild"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/supervisor"
	"github.com/pbxha/pbxha/vip"
)

// Defaults of the top-level keys. DefaultPath is read when no file is named
// and it exists; otherwise the embedded default file is used.
//
// A key that configures a package takes that package's exported default
// (vip.DefaultGARPCount, supervisor.DefaultStopTimeout, ...), so that each
// default is written once; the keys below are the ones that only the file
// has.
const (
	DefaultPath    = "/etc/pbxha/pbxha.yaml"
	DefaultCluster = "pbxha"
	DefaultSocket  = "/run/pbxha/pbxha.sock"
	DefaultState   = "/var/lib/pbxha"
	DefaultHistory = 10
	DefaultKeyFile = "/etc/pbxha/pbxha.key"
)

// Defaults shared by the probe kinds that no probe package holds.
const (
	DefaultRise    = 2
	DefaultFall    = 3
	DefaultPGFresh = 30 * time.Second
)

// Spellings of failover.witness.
const (
	WitnessAuto = "auto"
	WitnessOn   = "on"
	WitnessOff  = "off"
)

// Spellings of failover.profile.
const (
	ProfileDefault = "default"
	ProfileFast    = "fast"
)

// The sip probes' schedule under the fast profile: a hung PBX is failed
// after two misses, interval/2 + timeout + interval ≈ 230ms on average.
const (
	FastSIPInterval = 100 * time.Millisecond
	FastSIPTimeout  = 80 * time.Millisecond
)

// DefaultStepDownWithDB is the step-down budget of a node with a managed
// database: a fast shutdown of PostgreSQL takes a few hundred
// milliseconds.
const DefaultStepDownWithDB = time.Second

// defaults returns a Config holding every top-level default and no probes.
func defaults() Config {
	pol := failover.DefaultPolicy()
	return Config{
		Node:         Node{Cluster: DefaultCluster},
		Log:          Log{Format: "text", Level: "info"},
		Control:      Control{Socket: DefaultSocket},
		StateDir:     DefaultState,
		History:      DefaultHistory,
		Events:       Events{Keep: event.DefaultKeep, MaxAge: event.DefaultMaxAge},
		Peer:         Peer{KeyFile: DefaultKeyFile, Interval: failover.DefaultInterval, DeadAfter: pol.DeadAfter, InitDead: pol.InitDead},
		Coordination: CoordinationPeer,
		Etcd:         Etcd{Prefix: etcdha.DefaultPrefix, LeaseTTL: etcdha.DefaultLeaseTTL, Priority: etcdha.DefaultPriority},
		Failover: Failover{Profile: ProfileDefault, Mode: pol.Mode.String(), RestartGrace: pol.RestartGrace, Failback: pol.Failback.String(),
			FailbackDelay: pol.FailbackDelay, FenceTimeout: hooks.DefaultTimeout, IsolationAfter: pol.IsolationAfter,
			Witness: WitnessAuto, FailbackDrain: pol.FailbackDrain, UnprotectedGrace: failover.DefaultUnprotectedGrace,
			MaxClockOffset: failover.DefaultMaxClockOffset, RestartHold: failover.DefaultRestartHold},
		// vip.mode has no package default: vip.Config needs a mode. The
		// file's is none, so that a node never touches addresses unasked.
		VIP: VIP{Mode: string(vip.ModeNone), GARPCount: vip.DefaultGARPCount, GARPInterval: vip.DefaultGARPInterval,
			Script: VIPScript{Timeout: vip.DefaultScriptTimeout}},
		Database: Database{Kind: string(DatabasePostgreSQL), MaxLagBytes: dbrole.DefaultMaxLagBytes,
			MaxLagTransactions: mysqlrole.DefaultMaxLagTransactions, PromoteTimeout: dbrole.DefaultPromoteTimeout,
			DemoteTimeout: dbrole.DefaultDemoteTimeout, StopTimeout: dbrole.DefaultStopTimeout,
			StartTimeout: rebuild.DefaultStartTimeout, RebuildTimeout: rebuild.DefaultTimeout},
		Sync: Sync{LagAlert: filesync.DefaultLagAlert},
		Alerts: Alerts{
			MaxAge: alert.DefaultMaxAge, BackoffInitial: alert.DefaultBackoffInitial, BackoffMax: alert.DefaultBackoffMax,
			MaxQueued: alert.DefaultMaxQueued, FlapWindow: alert.DefaultFlapWindow, FlapThreshold: alert.DefaultFlapThreshold,
		},
		PBX: PBX{Supervise: Supervise{
			Mode: string(supervisor.ModeNone), StopTimeout: supervisor.DefaultStopTimeout, HangGrace: supervisor.DefaultHangGrace,
			BackoffInitial: supervisor.DefaultBackoffInitial, BackoffMax: supervisor.DefaultBackoffMax,
			BackoffFactor: supervisor.DefaultBackoffFactor, MaxRestarts: supervisor.DefaultMaxRestarts, Window: supervisor.DefaultWindow,
		}, TakeoverESLTimeout: 15 * time.Second, TakeoverAMITimeout: 15 * time.Second},
	}
}

// withProfile returns c with the defaults of a timing profile: the fast
// one's peer and failover timings (its sip probe schedule is fastSIP).
func withProfile(c Config, profile string) Config {
	if profile == ProfileFast {
		c.Failover.Profile = ProfileFast
		c.Peer.Interval, c.Peer.DeadAfter = failover.FastInterval, failover.FastDeadAfter
		c.Failover.IsolationAfter = failover.FastIsolationAfter
	}
	return c
}

// fastSIP returns the sip probe defaults of the fast profile.
func fastSIP() SIPProbe {
	p := DefaultSIP()
	p.Interval, p.Timeout = FastSIPInterval, FastSIPTimeout
	return p
}

// schedule returns the schedule defaults of a probe kind. The SIP probe
// decides failover, so it is the fastest: every 200ms with a 200ms
// deadline, failed after 2 misses, which puts a hung PBX's median outage
// in a pair near half a second (docs/BENCHMARKS.md). Its interval is the
// heartbeat's: checks and heartbeats fall on the same points of the
// clock's grid and share their wake-ups (clock.Grid), and the deadline of
// a check ends where the next starts. tcp checks every second with a
// 500ms deadline; the others every 2s with 1s, failed after 3.
func schedule(kind probe.Kind) Schedule {
	s := Schedule{Interval: 2 * time.Second, Timeout: time.Second, Rise: DefaultRise, Fall: DefaultFall}
	switch kind {
	case probe.KindSIP:
		s.Interval, s.Timeout, s.Fall = failover.DefaultInterval, 200*time.Millisecond, 2
	case probe.KindTCP:
		s.Interval, s.Timeout = time.Second, 500*time.Millisecond
	}
	switch kind {
	case probe.KindSIP, probe.KindESL, probe.KindPG, probe.KindMySQL, probe.KindAMI:
		s.Critical = true
	}
	return s
}

// DefaultSIP returns a sip probe with every default filled in and no target.
func DefaultSIP() SIPProbe {
	return SIPProbe{Schedule: schedule(probe.KindSIP), Accept: sipcheck.DefaultAccept, Degraded: sipcheck.DefaultDegraded,
		FromUser: sipcheck.DefaultFromUser, UserAgent: sipcheck.DefaultUserAgent}
}

// DefaultESL returns an esl probe with every default filled in.
func DefaultESL() ESLProbe {
	return ESLProbe{Schedule: schedule(probe.KindESL), Address: esl.DefaultAddress}
}

// DefaultPG returns a pg probe with every default filled in and no DSN.
func DefaultPG() PGProbe {
	return PGProbe{Schedule: schedule(probe.KindPG), ExpectRole: string(probe.PGRoleAny), Table: probe.DefaultPGTable,
		FreshConnEvery: DefaultPGFresh}
}

// DefaultMySQL returns a mysql probe with every default filled in and no
// DSN.
func DefaultMySQL() MySQLProbe {
	return MySQLProbe{Schedule: schedule(probe.KindMySQL), ExpectRole: string(probe.MySQLRoleAny), Table: probe.DefaultMySQLTable}
}

// DefaultAMI returns an ami probe with every default filled in.
func DefaultAMI() AMIProbe {
	return AMIProbe{Schedule: schedule(probe.KindAMI), Address: ami.DefaultAddress}
}

// DefaultTCP returns a tcp probe with every default filled in and no address.
func DefaultTCP() TCPProbe { return TCPProbe{Schedule: schedule(probe.KindTCP)} }

// DefaultExec returns an exec probe with every default filled in and no command.
func DefaultExec() ExecProbe { return ExecProbe{Schedule: schedule(probe.KindExec)} }

// defaultProbe returns the defaults of one element of probes.<kind>, as a
// value of the list's element type.
func defaultProbe(kind string) any {
	switch probe.Kind(kind) {
	case probe.KindSIP:
		return DefaultSIP()
	case probe.KindESL:
		return DefaultESL()
	case probe.KindPG:
		return DefaultPG()
	case probe.KindMySQL:
		return DefaultMySQL()
	case probe.KindAMI:
		return DefaultAMI()
	case probe.KindTCP:
		return DefaultTCP()
	case probe.KindExec:
		return DefaultExec()
	}
	switch kind {
	case "endpoints":
		return DefaultEndpoint()
	case "takeover", "release":
		return Hook{Timeout: hooks.DefaultTimeout}
	case "directories":
		return DefaultSyncDir()
	}
	return nil
}

// DefaultEndpoint returns an alert endpoint with every default filled in and
// no URL.
func DefaultEndpoint() Endpoint {
	return Endpoint{Format: string(alert.FormatJSON), MinSeverity: "info", Timeout: alert.DefaultTimeout}
}

// defaultName is the name of the i-th of n probes of a kind that has none:
// the kind alone, or kind-i when the list has several.
func defaultName(kind string, i, n int) string {
	switch kind {
	case "endpoints":
		kind = "endpoint"
	case "takeover", "release":
		kind += "-hook"
	case "directories":
		kind = "dir"
	}
	if n == 1 {
		return kind
	}
	return fmt.Sprintf("%s-%d", kind, i)
}

// DefaultSyncDir returns a sync directory with every default filled in and
// no source.
func DefaultSyncDir() SyncDir {
	return SyncDir{Interval: filesync.DefaultInterval, Watch: true, Marker: filesync.DefaultMarker}
}
