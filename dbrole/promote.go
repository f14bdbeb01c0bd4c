package dbrole

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pbxha/pbxha/probe"
)

// promotePoll is how often Promote asks whether the promotion completed.
const promotePoll = 10 * time.Millisecond

// Promote makes the local standby the primary. peerWAL is the last WAL
// position the old primary announced in its heartbeat (zero: never heard).
//
// It reads the standby's received and replayed positions and refuses with
// an error matching ErrTooFarBehind (a *LagError) when the newest of them
// trails peerWAL by more than MaxLagBytes, or when peerWAL is unknown,
// unless force or Config.AllowLag is set. Otherwise it runs
// pg_promote(false) and polls every promotePoll until the server has left
// recovery, for up to PromoteTimeout (pg_promote(true) polls only every
// 100 ms, and the takeover waits on it). A server that already is primary
// is a no-op success.
//
// Promote returns by ctx's deadline, or after about ConnectTimeout plus
// PromoteTimeout. When it fails after pg_promote was sent, the promotion may
// still complete in the background; the error says so.
func (m *Mover) Promote(ctx context.Context, peerWAL probe.LSN, force bool) (res Result, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t0 := time.Now()
	res = Result{Action: "promote", Start: m.cfg.Now(), PeerLSN: peerWAL, Before: RoleUnknown, After: RoleUnknown}
	defer res.finish(t0)

	pctx, cancel := context.WithTimeout(ctx, m.cfg.ConnectTimeout+m.cfg.PromoteTimeout+m.cfg.ConnectTimeout)
	defer cancel()
	// One connection for the whole promotion: every new backend costs a
	// fork on the server, and the takeover is waiting.
	var (
		st   state
		conn *pgx.Conn
	)
	err = res.step(m.cfg.Now, "read role", func() (string, error) {
		var err error
		if conn, err = m.connect(pctx); err != nil {
			st.role = RoleUnknown
			if refused(err) {
				st.role = RoleStopped
			}
			return "", err
		}
		if st, err = readState(pctx, conn); err != nil {
			return "", fmt.Errorf("read role: %w", err)
		}
		return "", nil
	})
	if conn != nil {
		defer closeConn(conn)
	}
	res.Before, res.After = st.role, st.role
	if err != nil {
		return res, fmt.Errorf("dbrole: promote %s: %w", m.target, err)
	}
	res.LocalLSN = st.walPosition()
	if st.role == RolePrimary {
		m.log.Info("database already primary, nothing to promote", "action", "promote", "wal", st.currentLSN.String())
		return res, nil
	}

	lag, overridden, err := checkLag(m.target, res.LocalLSN, peerWAL, m.cfg.MaxLagBytes, force || m.cfg.AllowLag)
	res.LagBytes, res.Overridden = lag, overridden
	if err != nil {
		return res, err
	}
	if overridden {
		why := "force"
		if !force {
			why = "allow_lag"
		}
		m.log.Warn("promoting a standby that may lack transactions of the old primary",
			"action", "promote", "reason", why, "local_wal", res.LocalLSN.String(),
			"peer_wal", peerWAL.String(), "lag_bytes", lag, "max_lag_bytes", m.cfg.MaxLagBytes)
	}

	var signalled bool
	err = res.step(m.cfg.Now, "promote", func() (string, error) {
		if err := conn.QueryRow(pctx, "SELECT pg_promote(false)").Scan(&signalled); err != nil {
			return "", err
		}
		if !signalled {
			return "", errors.New("pg_promote(false) returned false: the promotion signal was not sent")
		}
		return "", nil
	})
	if err != nil {
		return res, fmt.Errorf("dbrole: promote %s: pg_promote: %w (the promotion may still complete)", m.target, err)
	}

	inRecovery := true
	err = res.step(m.cfg.Now, "verify", func() (string, error) {
		deadline := time.Now().Add(m.cfg.PromoteTimeout)
		for {
			if err := conn.QueryRow(pctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
				return "", err
			}
			if !inRecovery {
				return "", nil
			}
			if time.Now().After(deadline) {
				return "", errors.New("still in recovery")
			}
			select {
			case <-pctx.Done():
				return "", pctx.Err()
			case <-time.After(promotePoll):
			}
		}
	})
	if err != nil {
		if inRecovery {
			return res, fmt.Errorf("dbrole: promote %s: not promoted within %s (the promotion may still complete)",
				m.target, m.cfg.PromoteTimeout)
		}
		return res, fmt.Errorf("dbrole: promote %s: verify: %w (the promotion may still complete)", m.target, err)
	}
	res.After, res.Changed = RolePrimary, true
	m.log.Info("database promoted", "action", "promote", "local_wal", res.LocalLSN.String(),
		"peer_wal", peerWAL.String(), "lag_bytes", lag, "overridden", overridden)
	return res, nil
}
