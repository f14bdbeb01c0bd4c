package mysqlrole

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/probe"
)

// maxCatchUp bounds how long Promote waits for a streaming replica to
// receive what the old primary announced: after a release, the rest of the
// binary log arrives within milliseconds.
const maxCatchUp = 2 * time.Second

// Promote makes the local replica the writable primary. peerWAL is the
// last GTID position (a transaction count) the old primary announced in
// its heartbeat; zero: never heard.
//
// While the replica's IO thread still streams from the old primary and has
// not received peerWAL, Promote waits for it ("catch up", at most
// maxCatchUp: an IO thread may not notice a lost primary for
// slave_net_timeout). It then refuses
// with an error matching dbrole.ErrTooFarBehind (a *LagError) when the
// replica holds more than MaxLagTransactions fewer transactions than
// peerWAL, or peerWAL is unknown, unless force or AllowLag. Otherwise it
// stops the IO thread, waits for the SQL thread to apply everything
// received ("apply relay log"), drops the replication configuration and
// turns read_only off ("promote"), and reads the role again ("verify"). A
// server that already takes writes is a no-op success.
//
// All waiting is bounded by PromoteTimeout; Promote returns by ctx's
// deadline or after about PromoteTimeout plus two ConnectTimeouts. A
// refusal or a failure before the "promote" step restarts replication.
func (m *Mover) Promote(ctx context.Context, peerWAL probe.LSN, force bool) (res dbrole.Result, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res, t0 := m.begin("promote")
	res.PeerLSN = peerWAL
	defer func() { res.Duration = time.Since(t0) }()
	pctx, cancel := context.WithTimeout(ctx, 2*m.cfg.ConnectTimeout+m.cfg.PromoteTimeout)
	defer cancel()
	deadline := time.Now().Add(2*m.cfg.ConnectTimeout + m.cfg.PromoteTimeout)

	s, st, err := m.readRole(pctx, &res)
	if err != nil {
		return res, fmt.Errorf("mysqlrole: promote %s: %w", m.target, err)
	}
	defer s.close()
	if st.Role == probe.MySQLRolePrimary {
		res.LocalLSN = probe.LSN(st.Position())
		m.log.Info("database already takes writes, nothing to promote", "action", "promote", "gtid", st.Executed)
		return res, nil
	}
	peer := uint64(peerWAL)
	if st.Streaming() && st.Position() < peer {
		_ = stepf(&res, m.cfg.Now, "catch up", func() (string, error) {
			until := time.Now().Add(min(maxCatchUp, m.cfg.PromoteTimeout))
			for st.Streaming() && st.Position() < peer && time.Now().Before(until) {
				if err := sleep(pctx, poll); err != nil {
					return "", err
				}
				next, err := s.read(pctx)
				if err != nil {
					return "", err
				}
				st = next
			}
			return fmt.Sprintf("received %d of %d", st.Position(), peer), nil
		})
	}
	res.LocalLSN = probe.LSN(st.Position())
	lag, overridden, err := checkLag(m.target, st.Position(), peer, m.cfg.MaxLagTransactions, force || m.cfg.AllowLag)
	res.LagBytes, res.Overridden = lag, overridden
	if err != nil {
		return res, err
	}
	if overridden {
		why := "force"
		if !force {
			why = "allow_lag"
		}
		m.log.Warn("promoting a replica that may lack transactions of the old primary", "action", "promote", "reason", why,
			"local_gtid", st.Position(), "peer_gtid", peer, "lag_transactions", lag, "max_lag_transactions", m.cfg.MaxLagTransactions)
	}

	if st.Replicating {
		err = stepf(&res, m.cfg.Now, "apply relay log", func() (string, error) {
			if err := s.exec(pctx, s.stopReplica("IO_THREAD"), s.startReplica("SQL_THREAD")); err != nil {
				return "", err
			}
			for {
				next, err := s.read(pctx)
				if err != nil {
					return "", err
				}
				st = next
				if st.AppliedCount >= st.Position() {
					return fmt.Sprintf("applied %d", st.AppliedCount), nil
				}
				if st.SQLRunning != "Yes" && st.LastSQLError != "" {
					return "", fmt.Errorf("the SQL thread stopped: %s", st.LastSQLError)
				}
				if time.Now().After(deadline) {
					return "", fmt.Errorf("%d received transactions not applied within promote_timeout %s", st.LagTransactions(), m.cfg.PromoteTimeout)
				}
				if err := sleep(pctx, poll); err != nil {
					return "", err
				}
			}
		})
		if err != nil && !(force || m.cfg.AllowLag) {
			m.restartReplication(s)
			return res, fmt.Errorf("mysqlrole: promote %s: %w", m.target, err)
		}
		if err != nil {
			m.log.Warn("promoting with received transactions not applied", "action", "promote", "reason", "force", "err", err)
		}
	}

	err = stepf(&res, m.cfg.Now, "promote", func() (string, error) {
		stmts := []string{}
		if st.Replicating {
			stmts = append(stmts, s.stopReplica(""), s.resetReplica())
		}
		return "", s.exec(pctx, append(stmts, s.readOnly(false)...)...)
	})
	if err != nil {
		return res, fmt.Errorf("mysqlrole: promote %s: %w (replication may be stopped)", m.target, err)
	}
	err = stepf(&res, m.cfg.Now, "verify", func() (string, error) {
		next, err := s.read(pctx)
		if err != nil {
			return "", err
		}
		if next.Role != probe.MySQLRolePrimary {
			return "", errors.New("read_only is still on")
		}
		st = next
		return "", nil
	})
	if err != nil {
		return res, fmt.Errorf("mysqlrole: promote %s: verify: %w", m.target, err)
	}
	res.After, res.Changed = dbrole.RolePrimary, true
	m.log.Info("database promoted", "action", "promote", "local_gtid", uint64(res.LocalLSN), "peer_gtid", peer,
		"lag_transactions", lag, "overridden", overridden, "gtid", st.Executed)
	return res, nil
}

// restartReplication undoes a promotion stopped half-way: the replica
// streams again.
func (m *Mover) restartReplication(s *session) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ConnectTimeout)
	defer cancel()
	if err := s.exec(ctx, s.startReplica("")); err != nil {
		m.log.Warn("could not restart replication after a refused promotion", "action", "promote", "err", err)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
