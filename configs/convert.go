package configs

import (
	"path/filepath"

	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/event"
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
