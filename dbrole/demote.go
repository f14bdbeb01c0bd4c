package dbrole

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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
	EnvAction   = "PBXHA_ACTION"    // "demote" or "stop"
	EnvNode     = "PBXHA_NODE"      // DemoteArgs.Node
	EnvPeerHost = "PBXHA_PEER_HOST" // DemoteArgs.PeerHost
	EnvPeerPort = "PBXHA_PEER_PORT" // DemoteArgs.PeerPort
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
func (m *Mover) Demote(ctx context.Context, args DemoteArgs) (res Result, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t0 := time.Now()
	res = Result{Action: "demote", Start: m.cfg.Now(), Before: RoleUnknown, After: RoleUnknown}
	defer res.finish(t0)

	var st state
	readErr := res.step(m.cfg.Now, "read role", func() (string, error) {
		var err error
		st, err = m.state(ctx)
		if st.role == RoleStopped {
			return "", nil
		}
		return "", err
	})
	res.Before, res.After = st.role, st.role
	if !st.role.writable() {
		m.log.Info("database not primary, nothing to demote", "action", "demote", "role", st.role.String())
		return res, nil
	}
	if readErr != nil {
		m.log.Warn("database role unknown, demoting it to be safe", "action", "demote", "err", readErr)
	}

	var failures []string
	for _, c := range []struct {
		action, step string
		argv         []string
		timeout      time.Duration
	}{
		{"demote", "demote command", m.cfg.DemoteCommand, m.cfg.DemoteTimeout},
		{"stop", "stop command", m.cfg.StopCommand, m.cfg.StopTimeout},
	} {
		if len(c.argv) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			failures = append(failures, fmt.Sprintf("%s: not run: %v", c.step, err))
			break
		}
		env, err := m.commandEnv(c.action, args)
		if err != nil {
			return res, err
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
			if c.action == "stop" {
				m.log.Warn("database stopped instead of demoted", "action", "stop", "reason", strings.Join(failures, "; "))
			} else {
				m.log.Info("database demoted", "action", "demote", "role", role.String())
			}
			return res, nil
		}
		msg := c.step + ": "
		if cmdErr != nil {
			msg += cmdErr.Error() + "; "
		}
		failures = append(failures, msg+"afterwards: "+verifyErr.Error())
	}
	return res, fmt.Errorf("dbrole: demote %s: %w: %s", m.target, ErrStillPrimary, strings.Join(failures, "; "))
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
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != sqlstateCannotConnectNow {
			return st.role, err
		}
		select {
		case <-ctx.Done():
			return RoleUnknown, err
		case <-tick.C:
		}
	}
}
