package mysqlrole

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/probe"
)

// Environment variables StopCommand receives, besides Config.Env (dbrole's
// names: the two kinds of database take the same commands).
const (
	EnvAction   = dbrole.EnvAction
	EnvNode     = dbrole.EnvNode
	EnvPeerHost = dbrole.EnvPeerHost
	EnvPeerPort = dbrole.EnvPeerPort
)

// Stop makes sure the local server no longer takes writes, the quick first
// half of a release before the peer may promote: read_only on
// (super_read_only on MySQL), then a wait, within StopTimeout, until every
// binlog dump thread has sent its replica the rest of the binary log ("send
// binlog"; a replica still catching up is waited for, not dropped). A
// server that cannot be made read-only is stopped with StopCommand. A
// replica or a stopped server is left alone (Result.Changed false). When
// the server may still take writes afterwards, the error matches
// dbrole.ErrStillPrimary. Rejoin makes it a replica of the new primary
// afterwards. Stop returns by ctx's deadline, or after about twice
// StopTimeout plus a few ConnectTimeouts.
func (m *Mover) Stop(ctx context.Context, args dbrole.DemoteArgs) (dbrole.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fence(ctx, "stop", args)
}

// Demote is Stop: a MariaDB/MySQL release only closes writes before the
// peer promotes, and Rejoin, which waits for the peer's promotion, makes
// the server a replica of it. pbxha always releases such a database with
// Stop and Rejoin; Demote is the second try when Stop failed.
func (m *Mover) Demote(ctx context.Context, args dbrole.DemoteArgs) (dbrole.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fence(ctx, "demote", args)
}

// fence is Stop and Demote; m.mu is held.
func (m *Mover) fence(ctx context.Context, action string, args dbrole.DemoteArgs) (res dbrole.Result, err error) {
	res, t0 := m.begin(action)
	defer func() { res.Duration = time.Since(t0) }()
	s, st, readErr := m.readRole(ctx, &res)
	if s != nil {
		defer s.close()
	}
	switch {
	case res.Before == dbrole.RoleStopped:
		m.log.Info("database not running, nothing to "+action, "action", action)
		return res, nil
	case readErr == nil && st.Role == probe.MySQLRoleReplica:
		m.log.Info("database already read-only, nothing to "+action, "action", action)
		return res, nil
	}
	var failures []string
	if readErr != nil {
		failures = append(failures, "read role: "+readErr.Error())
	} else if err := m.closeWrites(ctx, s, &res); err != nil {
		failures = append(failures, err.Error())
	} else {
		res.After, res.Changed = dbrole.RoleStandby, true
		m.log.Info("database read-only", "action", action, "gtid", st.Executed)
		return res, nil
	}
	if len(m.cfg.StopCommand) > 0 {
		if err := m.stopCommand(ctx, &res, args); err == nil {
			m.log.Warn("database stopped: it could not be made read-only", "action", action, "reason", strings.Join(failures, "; "))
			return res, nil
		} else {
			failures = append(failures, err.Error())
		}
	}
	return res, fmt.Errorf("mysqlrole: %s %s: %w: %s", action, m.target, dbrole.ErrStillPrimary, strings.Join(failures, "; "))
}

// closeWrites sets read_only, waits for the replicas to get the rest of
// the binary log and verifies.
func (m *Mover) closeWrites(ctx context.Context, s *session, res *dbrole.Result) error {
	sctx, cancel := context.WithTimeout(ctx, m.cfg.StopTimeout)
	defer cancel()
	if err := stepf(res, m.cfg.Now, "read only", func() (string, error) {
		return "", s.exec(sctx, s.readOnly(true)...)
	}); err != nil {
		return fmt.Errorf("read only: %w", err)
	}
	_ = stepf(res, m.cfg.Now, "send binlog", func() (string, error) {
		for {
			st, err := s.read(sctx)
			if err != nil {
				return "", err
			}
			waiting := 0
			for _, r := range st.Replicas {
				if !r.SentAll() {
					waiting++
				}
			}
			if waiting == 0 {
				return fmt.Sprintf("%d replicas have the binlog up to %s", len(st.Replicas), st.Executed), nil
			}
			if err := sleep(sctx, poll); err != nil {
				return fmt.Sprintf("%d of %d replicas still reading the binlog", waiting, len(st.Replicas)), err
			}
		}
	})
	return stepf(res, m.cfg.Now, "verify", func() (string, error) {
		vctx, cancel := context.WithTimeout(ctx, m.cfg.ConnectTimeout)
		defer cancel()
		st, err := s.read(vctx)
		if err != nil {
			return "", fmt.Errorf("verify: %w", err)
		}
		if st.Role == probe.MySQLRolePrimary {
			return "", errors.New("verify: read_only is still off")
		}
		return "", nil
	})
}

// stopCommand runs StopCommand and verifies that the server refuses
// connections.
func (m *Mover) stopCommand(ctx context.Context, res *dbrole.Result, args dbrole.DemoteArgs) error {
	env, err := hooks.ParseEnv(m.cfg.Env)
	if err != nil {
		return fmt.Errorf("stop command: env: %w", err)
	}
	env[EnvAction] = "stop"
	for k, v := range map[string]string{EnvNode: args.Node, EnvPeerHost: args.PeerHost} {
		if v != "" {
			env[k] = v
		}
	}
	if args.PeerPort != 0 {
		env[EnvPeerPort] = strconv.Itoa(args.PeerPort)
	}
	cmdErr := stepf(res, m.cfg.Now, "stop command", func() (string, error) {
		r, err := hooks.Run(ctx, hooks.Hook{Name: "stop_command", Command: m.cfg.StopCommand, Timeout: m.cfg.StopTimeout}, env)
		return r.Output, err
	})
	var r dbrole.Role
	verr := stepf(res, m.cfg.Now, "verify", func() (string, error) {
		// A server going away may still accept and then drop a
		// connection: ask again until it refuses, for ConnectTimeout.
		vctx, cancel := context.WithTimeout(ctx, m.cfg.ConnectTimeout)
		defer cancel()
		for {
			var err error
			r, err = m.roleNoLock(vctx)
			if err == nil && r != dbrole.RoleStopped {
				err = fmt.Errorf("server is %s", r)
			}
			if err == nil || sleep(vctx, poll) != nil {
				return "", err
			}
		}
	})
	res.After = r
	if verr != nil {
		if cmdErr != nil {
			return fmt.Errorf("stop command: %v; afterwards: %w", cmdErr, verr)
		}
		return fmt.Errorf("stop command: afterwards: %w", verr)
	}
	res.Changed = true
	return nil
}

// roleNoLock is Role without the step bookkeeping.
func (m *Mover) roleNoLock(ctx context.Context) (dbrole.Role, error) {
	var res dbrole.Result
	s, _, err := m.readRole(ctx, &res)
	if s != nil {
		s.close()
	}
	if res.Before == dbrole.RoleStopped {
		return dbrole.RoleStopped, nil
	}
	return res.Before, err
}

// Rejoin makes the local server a replica of the new primary, the second
// half of a release, run in the background: it closes writes if they are
// still open, waits (within DemoteTimeout) for the peer at PeerHost (or
// DemoteArgs.PeerHost) and PeerPort to become writable — replicating
// from it earlier could ask for GTIDs it has not received yet — then
// points replication at it with GTID auto-positioning (MariaDB
// MASTER_USE_GTID=current_pos, MySQL SOURCE_AUTO_POSITION=1) as the DSN's
// user, starts it and waits for both threads to run. A replica already
// streaming from the peer is left alone. A server that holds transactions
// the peer lacks (after a failover that lost some) cannot follow it: the
// error quotes the replica's, and the server stays read-only until an
// operator rebuilds it.
func (m *Mover) Rejoin(ctx context.Context, args dbrole.DemoteArgs) (res dbrole.Result, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res, t0 := m.begin("rejoin")
	defer func() { res.Duration = time.Since(t0) }()
	host, port := m.peer(args)
	if host == "" {
		return res, fmt.Errorf("mysqlrole: rejoin %s: no peer host (database.peer_host or peer.paths)", m.target)
	}
	source := net.JoinHostPort(host, strconv.Itoa(port))
	s, st, err := m.readRole(ctx, &res)
	if err != nil {
		if res.Before == dbrole.RoleStopped {
			return res, fmt.Errorf("mysqlrole: rejoin %s: the server is stopped: start it read-only and it rejoins as a replica of %s at the next release, or point it there by hand: %w", m.target, source, err)
		}
		return res, fmt.Errorf("mysqlrole: rejoin %s: %w", m.target, err)
	}
	defer s.close()
	if st.Role == probe.MySQLRoleReplica && st.Streaming() && st.Source == source {
		m.log.Info("database already a replica of the new primary", "action", "rejoin", "source", source)
		return res, nil
	}
	if st.Role == probe.MySQLRolePrimary {
		if err := m.closeWrites(ctx, s, &res); err != nil {
			return res, fmt.Errorf("mysqlrole: rejoin %s: %w: %w", m.target, dbrole.ErrStillPrimary, err)
		}
		res.After = dbrole.RoleStandby
	}
	rctx, cancel := context.WithTimeout(ctx, m.cfg.DemoteTimeout)
	defer cancel()
	if err := stepf(&res, m.cfg.Now, "wait for the new primary", func() (string, error) {
		return m.waitWritable(rctx, host, port)
	}); err != nil {
		return res, fmt.Errorf("mysqlrole: rejoin %s: the new primary %s: %w", m.target, source, err)
	}
	if err := stepf(&res, m.cfg.Now, "replicate", func() (string, error) {
		if err := s.exec(rctx, s.stopReplica("")); err != nil {
			return "", err
		}
		q, args := s.changeSource(host, port, m.mc.User, m.mc.Passwd)
		if _, err := s.conn.ExecContext(rctx, q, args...); err != nil {
			return "", fmt.Errorf("change source to %s: %w", source, err)
		}
		return "", s.exec(rctx, s.startReplica(""))
	}); err != nil {
		return res, fmt.Errorf("mysqlrole: rejoin %s: %w", m.target, err)
	}
	err = stepf(&res, m.cfg.Now, "verify", func() (string, error) {
		vctx, cancel := context.WithTimeout(rctx, 2*m.cfg.ConnectTimeout)
		defer cancel()
		for {
			st, err := s.read(vctx)
			if err != nil {
				return "", err
			}
			if st.IORunning == "Yes" && st.SQLRunning == "Yes" {
				return fmt.Sprintf("streaming from %s, gtid %s", st.Source, st.Executed), nil
			}
			if st.LastIOError != "" || st.LastSQLError != "" {
				return "", fmt.Errorf("replication from %s failed: %s (a server holding transactions the new primary lacks cannot follow it: rebuild it from the new primary)",
					source, strings.TrimSpace(st.LastIOError+" "+st.LastSQLError))
			}
			if err := sleep(vctx, poll); err != nil {
				return "", fmt.Errorf("replication from %s not running within %s: io %q, sql %q", source, 2*m.cfg.ConnectTimeout, st.IORunning, st.SQLRunning)
			}
		}
	})
	if err != nil {
		return res, fmt.Errorf("mysqlrole: rejoin %s: %w", m.target, err)
	}
	res.After, res.Changed = dbrole.RoleStandby, true
	m.log.Info("database rejoined as a replica", "action", "rejoin", "source", source)
	return res, nil
}

// changeSource is the statement, with its arguments, that points
// replication at host:port with GTID auto-positioning.
func (s *session) changeSource(host string, port int, user, password string) (string, []any) {
	args := []any{host, port, user, password}
	switch {
	case s.srv.Flavor == probe.FlavorMariaDB:
		return "CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, " +
			"MASTER_USE_GTID = current_pos, MASTER_CONNECT_RETRY = 1", args
	case s.modern():
		return "CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, " +
			"SOURCE_AUTO_POSITION = 1, SOURCE_CONNECT_RETRY = 1, GET_SOURCE_PUBLIC_KEY = 1", args
	default:
		return "CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, " +
			"MASTER_AUTO_POSITION = 1, MASTER_CONNECT_RETRY = 1, GET_MASTER_PUBLIC_KEY = 1", args
	}
}

// waitWritable polls the peer's server, as the DSN's user, until its
// read_only is off or ctx ends.
func (m *Mover) waitWritable(ctx context.Context, host string, port int) (string, error) {
	pc := m.mc.Clone()
	pc.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	if pc.Net == "unix" {
		pc.Net = "tcp"
	}
	db, err := open(pc)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, m.cfg.ConnectTimeout)
		var ro int
		last = db.QueryRowContext(cctx, "SELECT @@read_only").Scan(&ro)
		cancel()
		if last == nil && ro == 0 {
			return "", nil
		}
		if last == nil {
			last = errors.New("still read-only")
		}
		if err := sleep(ctx, 5*poll); err != nil {
			return "", fmt.Errorf("not writable within demote_timeout %s: %w", m.cfg.DemoteTimeout, last)
		}
	}
}
