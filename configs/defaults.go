package configs

import (
	"fmt"
	"time"
)

// Defaults of the top-level keys. DefaultPath is read when no file is named
// and it exists; otherwise the embedded default file is used.
const (
	DefaultPath    = "/etc/pbxha/pbxha.yaml"
	DefaultCluster = "pbxha"
	DefaultSocket  = "/run/pbxha/pbxha.sock"
	DefaultState   = "/var/lib/pbxha"
	DefaultHistory = 10
)

// Defaults shared by the probe kinds.
const (
	DefaultRise     = 2
	DefaultFall     = 3
	DefaultAccept   = "200"
	DefaultDegraded = "503"
	DefaultUser     = "pbxha" // SIP From user and User-Agent
	DefaultESLAddr  = "127.0.0.1:8021"
	DefaultAMIAddr  = "127.0.0.1:5038"
	DefaultPGRole   = "any"
	DefaultPGTable  = "pbxha_heartbeat"
	DefaultPGFresh  = 30 * time.Second
)

// defaults returns a Config holding every top-level default and no probes.
func defaults() Config {
	return Config{
		Node:     Node{Cluster: DefaultCluster},
		Log:      Log{Format: "text", Level: "info"},
		Control:  Control{Socket: DefaultSocket},
		StateDir: DefaultState,
		History:  DefaultHistory,
		Peer:     Peer{KeyFile: "/etc/pbxha/pbxha.key", Interval: 200 * time.Millisecond, DeadAfter: time.Second, InitDead: 3 * time.Second},
		Failover: Failover{Mode: "failover_first", RestartGrace: 10 * time.Second, Failback: "off", FailbackDelay: 5 * time.Minute, FenceTimeout: 30 * time.Second},
		VIP:      VIP{Mode: "none", GARPCount: 5, GARPInterval: 200 * time.Millisecond, Script: VIPScript{Timeout: 30 * time.Second}},
		Database: Database{MaxLagBytes: 1 << 20, PromoteTimeout: 10 * time.Second, DemoteTimeout: 60 * time.Second, StopTimeout: 60 * time.Second},
		Alerts: Alerts{
			MaxAge: 24 * time.Hour, BackoffInitial: time.Second, BackoffMax: 5 * time.Minute,
			MaxQueued: 10000, FlapWindow: 5 * time.Minute, FlapThreshold: 4,
		},
		PBX: PBX{Supervise: Supervise{
			Mode: "none", StopTimeout: 10 * time.Second, HangGrace: 10 * time.Second,
			BackoffInitial: time.Second, BackoffMax: 30 * time.Second, BackoffFactor: 2,
			MaxRestarts: 5, Window: 10 * time.Minute,
		}, TakeoverESLTimeout: 15 * time.Second},
	}
}

// schedule returns the schedule defaults of a probe kind. The SIP probe
// decides failover, so it is the fastest: every 250ms with a 200ms deadline,
// failed after 2 misses, which puts a hung PBX's median outage in a pair
// below one second (docs/BENCHMARKS.md). tcp checks every second with a
// 500ms deadline; the others every 2s with 1s, failed after 3.
func schedule(kind string) Schedule {
	s := Schedule{Interval: 2 * time.Second, Timeout: time.Second, Rise: DefaultRise, Fall: DefaultFall}
	switch kind {
	case "sip":
		s.Interval, s.Timeout, s.Fall = 250*time.Millisecond, 200*time.Millisecond, 2
	case "tcp":
		s.Interval, s.Timeout = time.Second, 500*time.Millisecond
	}
	switch kind {
	case "sip", "esl", "pg", "ami":
		s.Critical = true
	}
	return s
}

// DefaultSIP returns a sip probe with every default filled in and no target.
func DefaultSIP() SIPProbe {
	return SIPProbe{Schedule: schedule("sip"), Accept: DefaultAccept, Degraded: DefaultDegraded,
		FromUser: DefaultUser, UserAgent: DefaultUser}
}

// DefaultESL returns an esl probe with every default filled in.
func DefaultESL() ESLProbe {
	return ESLProbe{Schedule: schedule("esl"), Address: DefaultESLAddr}
}

// DefaultPG returns a pg probe with every default filled in and no DSN.
func DefaultPG() PGProbe {
	return PGProbe{Schedule: schedule("pg"), ExpectRole: DefaultPGRole, Table: DefaultPGTable,
		FreshConnEvery: DefaultPGFresh}
}

// DefaultAMI returns an ami probe with every default filled in.
func DefaultAMI() AMIProbe {
	return AMIProbe{Schedule: schedule("ami"), Address: DefaultAMIAddr}
}

// DefaultTCP returns a tcp probe with every default filled in and no address.
func DefaultTCP() TCPProbe { return TCPProbe{Schedule: schedule("tcp")} }

// DefaultExec returns an exec probe with every default filled in and no command.
func DefaultExec() ExecProbe { return ExecProbe{Schedule: schedule("exec")} }

// defaultProbe returns the defaults of one element of probes.<kind>, as a
// value of the list's element type.
func defaultProbe(kind string) any {
	switch kind {
	case "sip":
		return DefaultSIP()
	case "esl":
		return DefaultESL()
	case "pg":
		return DefaultPG()
	case "ami":
		return DefaultAMI()
	case "tcp":
		return DefaultTCP()
	case "exec":
		return DefaultExec()
	case "endpoints":
		return DefaultEndpoint()
	case "takeover", "release":
		return Hook{Timeout: 30 * time.Second}
	}
	return nil
}

// DefaultEndpoint returns an alert endpoint with every default filled in and
// no URL.
func DefaultEndpoint() Endpoint {
	return Endpoint{Format: "json", MinSeverity: "info", Timeout: 5 * time.Second}
}

// defaultName is the name of the i-th of n probes of a kind that has none:
// the kind alone, or kind-i when the list has several.
func defaultName(kind string, i, n int) string {
	switch kind {
	case "endpoints":
		kind = "endpoint"
	case "takeover", "release":
		kind += "-hook"
	}
	if n == 1 {
		return kind
	}
	return fmt.Sprintf("%s-%d", kind, i)
}
