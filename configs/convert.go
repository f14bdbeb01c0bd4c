package configs

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/ami"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/esl"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/filesync"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/rebuild"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/supervisor"
	"github.com/pbxha/pbxha/vip"
)

// VIPConfig is the vip section as the vip package takes it.
func (c *Config) VIPConfig() vip.Config {
	v := c.VIP
	return vip.Config{
		Mode: vip.Mode(v.Mode), Interface: v.Interface, Address: v.Address, Label: v.Label,
		GARPCount: v.GARPCount, GARPInterval: v.GARPInterval, Refresh: v.Refresh,
		Script: vip.Script{Up: v.Script.Up, Down: v.Script.Down, Check: v.Script.Check, Timeout: v.Script.Timeout},
	}
}

// SupervisorConfig is pbx.supervise as the supervisor package takes it; exec
// mode records the PBX's pid and output in state_dir.
func (c *Config) SupervisorConfig() supervisor.Config {
	s := c.PBX.Supervise
	return supervisor.Config{
		Mode: supervisor.Mode(s.Mode), Command: s.Command, Env: s.Env, Dir: s.Dir, User: s.User, Group: s.Group,
		PIDFile: s.PIDFile, Match: s.Match, StartCommand: s.StartCommand, StopCommand: s.StopCommand,
		Unit: s.Unit, StateDir: c.StateDir,
		StopTimeout: s.StopTimeout, HangGrace: s.HangGrace,
		BackoffInitial: s.BackoffInitial, BackoffMax: s.BackoffMax, BackoffFactor: s.BackoffFactor,
		MaxRestarts: s.MaxRestarts, Window: s.Window, StopOnExit: s.StopOnExit,
	}
}

// DBRoleConfig is the database section as the dbrole package takes it.
// max_lag_bytes is at least 1 in a valid config.
func (c *Config) DBRoleConfig() dbrole.Config {
	d := c.Database
	return dbrole.Config{
		DSN: d.DSN, MaxLagBytes: uint64(max(d.MaxLagBytes, 0)), AllowLag: d.AllowLag, PromoteTimeout: d.PromoteTimeout,
		DemoteCommand: d.DemoteCommand, DemoteTimeout: d.DemoteTimeout, StopCommand: d.StopCommand,
		StopTimeout: d.StopTimeout, Env: d.Env,
	}
}

// OutboxDir is where alert delivery keeps its durable outbox.
func (c *Config) OutboxDir() string { return filepath.Join(c.StateDir, "outbox") }

// AlertConfig is the alerts section as the alert package takes it, with the
// outbox in OutboxDir. Each endpoint's Secret is the secret key as written;
// a secret_file is not read here (see ReadSecret). A min_severity or a
// header that does not parse is left at info or out; Validate reports it.
func (c *Config) AlertConfig() alert.Config {
	a := c.Alerts
	out := alert.Config{
		Dir: c.OutboxDir(), MaxAge: a.MaxAge, BackoffInitial: a.BackoffInitial, BackoffMax: a.BackoffMax,
		MaxQueued: a.MaxQueued, FlapWindow: a.FlapWindow, FlapThreshold: a.FlapThreshold, ExternalURL: a.ExternalURL,
	}
	for _, e := range a.Endpoints {
		var sev event.Severity
		if err := sev.UnmarshalText([]byte(e.MinSeverity)); err != nil {
			sev = event.Info
		}
		headers := map[string]string{}
		for _, h := range e.Headers {
			if name, value, ok := parseHeader(h); ok {
				headers[name] = value
			}
		}
		out.Endpoints = append(out.Endpoints, alert.Endpoint{
			Name: e.Name, URL: e.URL, Format: alert.Format(e.Format), Kinds: e.Kinds, MinSeverity: sev,
			Timeout: e.Timeout, Headers: headers, Secret: e.Secret,
		})
	}
	return out
}

// SIPConfig is a sip probe as package sipcheck takes it.
func (c SIPProbe) SIPConfig() sipcheck.Config {
	return sipcheck.Config{
		Target: c.Target, Accept: c.Accept, Degraded: c.Degraded, FromUser: c.FromUser, UserAgent: c.UserAgent,
		LocalHost: c.LocalHost, FreshConnection: c.FreshConnection,
		TLS: sipcheck.TLSConfig{CAFile: c.TLS.CAFile, ServerName: c.TLS.ServerName, Insecure: c.TLS.Insecure},
	}
}

// ESLConfig is an esl probe as package esl takes it, with the password
// already read (ReadSecret).
func (c ESLProbe) ESLConfig(password string) esl.Config {
	return esl.Config{
		Address: c.Address, Password: password, Profiles: c.Profiles, CountCalls: c.CountCalls,
		MaxSessionsShare: c.MaxSessionsShare, MinIdleCPU: c.MinIdleCPU, Timeout: c.Timeout,
	}
}

// PGConfig is a pg probe of node as package probe takes it.
func (c PGProbe) PGConfig(node string) probe.PGConfig {
	return probe.PGConfig{DSN: c.DSN, ExpectRole: probe.PGRole(c.ExpectRole), Table: c.Table, Node: node, FreshConnEvery: c.FreshConnEvery}
}

// AMIConfig is an ami probe as package ami takes it, with the secret
// already read (ReadSecret).
func (c AMIProbe) AMIConfig(secret string) ami.Config {
	return ami.Config{Address: c.Address, Username: c.Username, Secret: secret, MaxCalls: c.MaxCalls}
}

// FailoverPolicy is the decision policy from peer, failover and database,
// as package failover takes it. The spellings of failover.mode and
// failover.failback were checked by Validate.
func (c *Config) FailoverPolicy() (failover.Policy, error) {
	var err error
	p := failover.DefaultPolicy()
	p.InitDead, p.DeadAfter = c.Peer.InitDead, c.Peer.DeadAfter
	p.RestartGrace, p.FailbackDelay, p.PreferredNode = c.Failover.RestartGrace, c.Failover.FailbackDelay, c.Failover.PreferredNode
	if p.Mode, err = failover.ParseMode(c.Failover.Mode); err != nil {
		return p, fmt.Errorf("%s: failover.mode: %w", c.Source, err)
	}
	if p.Failback, err = failover.ParseFailback(c.Failover.Failback); err != nil {
		return p, fmt.Errorf("%s: failover.failback: %w", c.Source, err)
	}
	p.NeedFence = len(c.Failover.FenceCommand) > 0
	if c.Database.DSN != "" {
		p.MaxLagBytes, p.AllowLagPromote = c.maxLag(), c.Database.AllowLag
		p.LagTransactions = c.DatabaseKind().MySQLFamily()
	}
	p.Interval, p.IsolationAfter, p.StepDown = c.Peer.Interval, c.Failover.IsolationAfter, c.StepDownBudget()
	p.Witness = c.WitnessOn()
	p.FailbackDrain = c.Failover.FailbackDrain
	p.RestartHold = c.Failover.RestartHold
	if p.FailbackWindow, err = failover.ParseWindow(c.Failover.FailbackWindow); err != nil {
		return p, fmt.Errorf("%s: failover.failback_window: %w", c.Source, err)
	}
	return p, nil
}

// StepDownBudget is failover.step_down_budget, or its default: 100ms (20ms
// under the fast profile), or 1s with a managed database.
func (c *Config) StepDownBudget() time.Duration {
	switch {
	case c.Failover.StepDownBudget > 0:
		return c.Failover.StepDownBudget
	case c.Database.DSN != "":
		return DefaultStepDownWithDB
	case c.Failover.Profile == ProfileFast:
		return failover.FastStepDown
	}
	return failover.DefaultStepDown
}

// WitnessOn reports whether the VIP witness is used: failover.witness on,
// or auto with a netlink VIP of IPv4.
func (c *Config) WitnessOn() bool {
	switch c.Failover.Witness {
	case WitnessOn:
		return true
	case WitnessAuto:
		pre, err := netip.ParsePrefix(c.VIP.Address)
		return c.VIP.Mode == string(vip.ModeNetlink) && err == nil && pre.Addr().Is4()
	}
	return false
}

// HeartbeatPaths are peer.paths as package failover takes them. The
// addresses were checked by Validate.
func (c *Config) HeartbeatPaths() []failover.Path {
	var out []failover.Path
	for _, p := range c.Peer.Paths {
		out = append(out, failover.Path{Local: netip.MustParseAddrPort(p.Local), Peer: netip.MustParseAddrPort(p.Peer)})
	}
	return out
}

// HookList is a hooks list as package hooks takes it.
func HookList(hs []Hook) []hooks.Hook {
	out := make([]hooks.Hook, 0, len(hs))
	for _, h := range hs {
		out = append(out, hooks.Hook{Name: h.Name, Command: h.Command, Timeout: h.Timeout})
	}
	return out
}

// SyncConfig is the sync section as package filesync takes it, with the
// generated rsyncd.conf in <state_dir>/sync. An address that does not parse
// is left invalid; Validate reports it. The key (change notices are signed
// with the pair's key) is not read here.
func (c *Config) SyncConfig() filesync.Config {
	s := c.Sync
	listen, _ := netip.ParseAddrPort(s.Listen)
	peer, _ := netip.ParseAddrPort(s.Peer)
	out := filesync.Config{Node: c.Node.Name, Listen: listen, Peer: peer, SecretsFile: s.SecretsFile,
		StateDir: filepath.Join(c.StateDir, "sync"), LagAlert: s.LagAlert}
	for _, d := range s.Directories {
		out.Dirs = append(out.Dirs, filesync.Dir{Name: d.Name, Source: d.Source, Destination: d.Destination, Exclude: d.Exclude,
			BWLimit: d.BWLimit, Interval: d.Interval, Watch: d.Watch, Marker: d.Marker, RequireMount: d.RequireMount})
	}
	return out
}

// RebuildConfig is the database section's rebuild keys as package rebuild
// takes them, with its journal in state_dir.
func (c *Config) RebuildConfig() rebuild.Config {
	d := c.Database
	return rebuild.Config{
		Node: c.Node.Name, DataDir: d.DataDir, DSN: d.DSN, StateDir: c.StateDir, PrimaryConninfo: d.PrimaryConninfo,
		StopCommand: d.StopCommand, StopTimeout: d.StopTimeout, StartCommand: d.StartCommand, StartTimeout: d.StartTimeout,
		Env: d.Env, MaxRate: d.RebuildMaxRate, Timeout: d.RebuildTimeout,
	}
}

// HeartbeatKeys reads peer.key_file and, when set, peer.next_key_file.
func (c *Config) HeartbeatKeys() (failover.Keys, error) {
	var k failover.Keys
	var err error
	if k.Current, err = failover.LoadKey(c.Peer.KeyFile); err != nil {
		return k, fmt.Errorf("%s: peer.key_file: %w", c.Source, err)
	}
	if c.Peer.NextKeyFile != "" {
		if k.Next, err = failover.LoadKey(c.Peer.NextKeyFile); err != nil {
			return k, fmt.Errorf("%s: peer.next_key_file: %w", c.Source, err)
		}
	}
	return k, nil
}
