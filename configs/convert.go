package configs

import (
	"github.com/pbxha/pbxha/dbrole"
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
