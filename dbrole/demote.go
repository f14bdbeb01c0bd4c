package dbrole

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pbxha/pbxha/hooks"
)

// ErrStillPrimary is matched (errors.Is) by the error of a Demote after
// which the local server is still, or may still be, a writable primary:
// both the demote and the stop command failed, or the role could not be
// read afterwards. The peer must then not be made primary.
var ErrStillPrimary = errors.New("database still a writable primary")

// Environment variables the demote and stop commands receive, besides
// Config.Env. The DSN is not passed: it may hold a password.
const (
	EnvAction   = hooks.EnvAction   // "demote", "stop", or "rejoin" (the demote command run by Rejoin)
	EnvNode     = hooks.EnvNode     // DemoteArgs.Node
	EnvPeerHost = hooks.EnvPeerHost // DemoteArgs.PeerHost
	EnvPeerPort = hooks.EnvPeerPort // DemoteArgs.PeerPort
)

// DemoteArgs describes the move to the demote and stop commands. Empty
// fields are not passed.
type DemoteArgs struct {
	Node     string // this node's name
	PeerHost string // host of the new primary's database
	PeerPort int    // its port; 0: not passed
}

// sqlstateCannotConnectNow is returned while a server starts up or shuts
// down.
const sqlstateCannotConnectNow = "57P03"

// verifyPoll is how often verify asks again while the server starts up or
// shuts down.
const verifyPoll = 100 * time.Millisecond

// Demote makes sure the local server is no longer a writable primary.
//
// A standby or a stopped server is left alone (a no-op success). A primary,
// or a server whose role cannot be read, is handed to DemoteCommand; when
// the server is still writable afterwards (or there is no DemoteCommand),
// StopCommand runs. After each command the role is read again: a standby or
// a server refusing connections counts as demoted, whatever the command's
// exit status. When both fail, or the role cannot be read, the error
// matches ErrStillPrimary.
//
// Commands run without a shell in their own process group, killed when
// DemoteTimeout or StopTimeout passes, with Config.Env and the
// PBXHA_ACTION, PBXHA_NODE, PBXHA_PEER_HOST and PBXHA_PEER_PORT variables.
// Demote returns by ctx's deadline, or after at most about DemoteTimeout
// plus StopTimeout plus a few ConnectTimeouts.
func (m *Mover) Demote(ctx context.Context, args DemoteArgs) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.demote(ctx, "demote", args, m.demoteCommand(), m.stopCommand())
}

// Stop makes sure the local server no longer takes writes by running
// StopCommand alone: the quick first half of a release, before the peer may
// promote; Rejoin makes the stopped server a standby afterwards. A fast
// shutdown (pg_ctl stop -m fast) sends every connected streaming standby
// the rest of the WAL, and waits for it to be flushed there, before the
// server exits. A standby or a stopped server is left alone. When the
// server is still writable afterwards, the error matches ErrStillPrimary;
// without a StopCommand, Stop returns an error and runs nothing. Stop
// returns by ctx's deadline, or after about StopTimeout plus a few
// ConnectTimeouts.
func (m *Mover) Stop(ctx context.Context, args DemoteArgs) (Result, error) {
	if len(m.cfg.StopCommand) == 0 {
		return Result{Action: "stop"}, fmt.Errorf("dbrole: stop %s: no stop_command configured", m.target)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.demote(ctx, "stop", args, m.stopCommand())
}

// Rejoin makes the local server a standby of the new primary with
// DemoteCommand, run with PBXHA_ACTION=rejoin — also a stopped server,
// which Demote leaves alone: it is
// the second half of a release whose first half was Stop. A standby is left
// alone (a no-op success). A server still writable after DemoteCommand is
// stopped with StopCommand, as in Demote. Rejoin succeeds only when the
// server answers as a standby afterwards; otherwise the error says what it
// is (configs/pg-demote.sh leaves it stopped when it fails), and matches
// ErrStillPrimary when it may still take writes. It runs one at a time
// with Promote, Demote and Stop, and returns by ctx's deadline, or after at
// most about DemoteTimeout plus StopTimeout plus a few ConnectTimeouts.
func (m *Mover) Rejoin(ctx context.Context, args DemoteArgs) (res Result, err error) {
	if len(m.cfg.DemoteCommand) == 0 {
		return Result{Action: "rejoin"}, fmt.Errorf("dbrole: rejoin %s: no demote_command configured", m.target)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t0 := time.Now()
	res = Result{Action: "rejoin", Start: m.cfg.Now(), Before: RoleUnknown, After: RoleUnknown}
	defer res.finish(t0)
	st, readErr := m.readRole(ctx, &res)
	if st.role == RoleStandby {
		m.log.Info("database already a standby, nothing to rejoin", "action", "rejoin", "role", st.role.String())
		return res, nil
	}
	if readErr != nil {
		m.log.Warn("database role unknown, running the demote command", "action", "rejoin", "err", readErr)
	}
	// PBXHA_ACTION=rejoin: the new primary may still be promoting, and
	// the command should wait for it (configs/pg-demote.sh does).
	rejoin := m.demoteCommand()
	rejoin.action = "rejoin"
	if err := m.run(ctx, &res, args, rejoin, m.stopCommand()); err != nil {
		return res, fmt.Errorf("dbrole: rejoin %s: %w", m.target, err)
	}
	if res.After != RoleStandby {
		why := ""
		for _, s := range res.Steps {
			if s.Name == "demote command" && s.Err != "" {
				why = ": demote command: " + s.Err
			}
		}
		return res, fmt.Errorf("dbrole: rejoin %s: the server is %s, not a standby%s", m.target, res.After, why)
	}
	return res, nil
}

// readRole is the "read role" step of a demotion or rejoin: the server's
// state, with a stopped server (refusing connections) as no error. It sets
// res.Before and res.After.
func (m *Mover) readRole(ctx context.Context, res *Result) (state, error) {
	var st state
	err := res.step(m.cfg.Now, "read role", func() (string, error) {
		var err error
		st, err = m.state(ctx)
		if st.role == RoleStopped {
			return "", nil
		}
		return "", err
	})
	res.Before, res.After = st.role, st.role
	return st, err
}

// command is one command a demotion may run.
type command struct {
	action, step string
	argv         []string
	timeout      time.Duration
}

func (m *Mover) demoteCommand() command {
	return command{"demote", "demote command", m.cfg.DemoteCommand, m.cfg.DemoteTimeout}
}

func (m *Mover) stopCommand() command {
	return command{"stop", "stop command", m.cfg.StopCommand, m.cfg.StopTimeout}
}

// demote is Demote and Stop with the commands to try, in order; m.mu is
// held.
func (m *Mover) demote(ctx context.Context, action string, args DemoteArgs, cmds ...command) (res Result, err error) {
	t0 := time.Now()
	res = Result{Action: action, Start: m.cfg.Now(), Before: RoleUnknown, After: RoleUnknown}
	defer res.finish(t0)

	st, readErr := m.readRole(ctx, &res)
	if !st.role.writable() {
		m.log.Info("database not primary, nothing to "+action, "action", action, "role", st.role.String())
		return res, nil
	}
	if readErr != nil {
		m.log.Warn("database role unknown, demoting it to be safe", "action", action, "err", readErr)
	}
	if err := m.run(ctx, &res, args, cmds...); err != nil {
		return res, fmt.Errorf("dbrole: %s %s: %w", action, m.target, err)
	}
	return res, nil
}

// run runs cmds in order until the server is no longer writable after one
// of them, reading the role after each into res.After. It returns an error
// matching ErrStillPrimary when none made it so.
func (m *Mover) run(ctx context.Context, res *Result, args DemoteArgs, cmds ...command) error {
	var failures []string
	for _, c := range cmds {
		if len(c.argv) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			failures = append(failures, fmt.Sprintf("%s: not run: %v", c.step, err))
			break
		}
		env, err := m.commandEnv(c.action, args)
		if err != nil {
			return err
		}
		cmdErr := res.step(m.cfg.Now, c.step, func() (string, error) {
			r, err := hooks.Run(ctx, hooks.Hook{Name: strings.ReplaceAll(c.step, " ", "_"), Command: c.argv, Timeout: c.timeout}, env)
			return r.Output, err
		})
		var role Role
		verifyErr := res.step(m.cfg.Now, "verify", func() (string, error) {
			var err error
			role, err = m.verify(ctx)
			if err == nil && role.writable() {
				err = fmt.Errorf("server is %s", role)
			}
			return "", err
		})
		res.After = role
		if verifyErr == nil {
			res.Changed = true
			if cmdErr != nil {
				m.log.Warn("database command failed but the server is no longer primary",
					"action", c.action, "role", role.String(), "err", cmdErr)
			}
			switch {
			case c.action == "stop" && len(failures) > 0:
				m.log.Warn("database stopped instead of demoted", "action", "stop", "reason", strings.Join(failures, "; "))
			case c.action == "stop":
				m.log.Info("database stopped", "action", "stop", "role", role.String())
			default:
				m.log.Info("database demoted", "action", c.action, "role", role.String())
			}
			return nil
		}
		msg := c.step + ": "
		if cmdErr != nil {
			msg += cmdErr.Error() + "; "
		}
		failures = append(failures, msg+"afterwards: "+verifyErr.Error())
	}
	return fmt.Errorf("%w: %s", ErrStillPrimary, strings.Join(failures, "; "))
}

// commandEnv is the environment of a demote or stop command.
func (m *Mover) commandEnv(action string, args DemoteArgs) (map[string]string, error) {
	env, err := hooks.ParseEnv(m.cfg.Env)
	if err != nil {
		return nil, fmt.Errorf("dbrole: %s %s: env: %w", action, m.target, err)
	}
	env[EnvAction] = action
	if args.Node != "" {
		env[EnvNode] = args.Node
	}
	if args.PeerHost != "" {
		env[EnvPeerHost] = args.PeerHost
	}
	if args.PeerPort != 0 {
		env[EnvPeerPort] = strconv.Itoa(args.PeerPort)
	}
	return env, nil
}

// verify reads the role after a command. While the server answers that it
// is starting up or shutting down, it asks again for up to ConnectTimeout.
// A refused connection is RoleStopped with a nil error.
func (m *Mover) verify(ctx context.Context) (Role, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ConnectTimeout)
	defer cancel()
	tick := time.NewTicker(verifyPoll)
	defer tick.Stop()
	for {
		st, err := m.state(ctx)
		if st.role == RoleStopped {
			return RoleStopped, nil
		}
		if err == nil || !errors.Is(err, ErrRefusing) {
			return st.role, err
		}
		select {
		case <-ctx.Done():
			return RoleUnknown, err
		case <-tick.C:
		}
	}
}
