package dbrole

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/pbxha/pbxha/probe"
)

// Role is what the local server is, as far as pbxha can tell.
type Role string

// Roles of the local server.
const (
	RolePrimary Role = "primary" // accepts connections, not in recovery: writable
	RoleStandby Role = "standby" // in recovery: read-only
	RoleStopped Role = "stopped" // refuses connections: no server listens
	RoleUnknown Role = "unknown" // the role could not be read (timeout, authentication...)
)

// String returns the role name.
func (r Role) String() string { return string(r) }

// writable reports whether the role may be a writable primary: a primary,
// or a server whose role could not be read.
func (r Role) writable() bool { return r == RolePrimary || r == RoleUnknown }

// state is one reading of the local server.
type state struct {
	role       Role
	receiveLSN probe.LSN // pg_last_wal_receive_lsn(), standby only
	replayLSN  probe.LSN // pg_last_wal_replay_lsn(), standby only
	currentLSN probe.LSN // pg_current_wal_lsn(), primary only
}

// walPosition is the newest WAL the server holds: on a standby what it
// received or replayed, whichever is further (received WAL is replayed
// before a promotion completes).
func (s state) walPosition() probe.LSN {
	if s.role == RolePrimary {
		return s.currentLSN
	}
	return max(s.receiveLSN, s.replayLSN)
}

const stateSQL = `SELECT pg_is_in_recovery(),
  pg_last_wal_receive_lsn()::text,
  pg_last_wal_replay_lsn()::text,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END`

// readState reads the role and WAL positions on conn.
func readState(ctx context.Context, conn *pgx.Conn) (state, error) {
	var (
		inRecovery               bool
		receive, replay, current pgtype.Text
	)
	if err := conn.QueryRow(ctx, stateSQL).Scan(&inRecovery, &receive, &replay, &current); err != nil {
		return state{role: RoleUnknown}, err
	}
	st := state{role: RolePrimary}
	if inRecovery {
		st.role = RoleStandby
	}
	for _, f := range []struct {
		dst *probe.LSN
		src pgtype.Text
	}{{&st.receiveLSN, receive}, {&st.replayLSN, replay}, {&st.currentLSN, current}} {
		if !f.src.Valid {
			continue
		}
		l, err := probe.ParseLSN(f.src.String)
		if err != nil {
			return state{role: RoleUnknown}, err
		}
		*f.dst = l
	}
	return st, nil
}

// ErrRefusing is matched (errors.Is) by the error of Role while the server
// answers but refuses new sessions for now (SQLSTATE 57P03,
// cannot_connect_now): it is shutting down, starting up or recovering.
// Right after a fast or immediate shutdown began, that means its sessions
// are ended and no new one can write, though the server has not exited.
var ErrRefusing = errors.New("the server refuses new sessions (shutting down or starting up)")

// refused reports a connection error that means no server listens: the
// TCP port refuses, or the unix socket file is missing.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// Role connects to the local server and reports its role. A server that
// refuses connections is RoleStopped with a nil error; any other failure is
// RoleUnknown with the error, which matches ErrRefusing when the server
// refused the session because it is shutting down or starting up. Role returns by ctx's deadline, or after at
// most twice Config.ConnectTimeout.
func (m *Mover) Role(ctx context.Context) (Role, error) {
	st, err := m.state(ctx)
	if err != nil && st.role == RoleStopped {
		return RoleStopped, nil
	}
	return st.role, err
}

// state connects and reads the server's state. A refused connection gives
// RoleStopped with the error.
func (m *Mover) state(ctx context.Context) (state, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*m.cfg.ConnectTimeout)
	defer cancel()
	conn, err := m.connect(ctx)
	if err != nil {
		st := state{role: RoleUnknown}
		var pgErr *pgconn.PgError
		switch {
		case refused(err):
			st.role = RoleStopped
		case errors.As(err, &pgErr) && pgErr.Code == sqlstateCannotConnectNow:
			return st, fmt.Errorf("dbrole: read role %s: %w: %w", m.target, ErrRefusing, err)
		}
		return st, fmt.Errorf("dbrole: read role %s: %w", m.target, err)
	}
	defer closeConn(conn)
	st, err := readState(ctx, conn)
	if err != nil {
		return st, fmt.Errorf("dbrole: read role %s: %w", m.target, err)
	}
	return st, nil
}
