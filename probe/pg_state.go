package probe

import (
	"fmt"
	"strings"
	"time"
)

// PGRole is the replication role of a PostgreSQL server, or in
// PGConfig.ExpectRole the role a probe requires.
type PGRole string

// PostgreSQL roles. PGRoleAny is only meaningful as an expectation.
const (
	PGRolePrimary PGRole = "primary" // accepts writes: pg_is_in_recovery() is false
	PGRoleStandby PGRole = "standby" // in recovery, read-only
	PGRoleAny     PGRole = "any"     // expectation that accepts either role
)

// String returns the role name.
func (r PGRole) String() string { return string(r) }

// PGState is what one PG check read from the server. Zero LSNs mean the
// server did not report that position.
type PGState struct {
	At         time.Time // when the check that read this state began
	Role       PGRole    // PGRolePrimary or PGRoleStandby
	InRecovery bool      // pg_is_in_recovery()

	// CurrentLSN is pg_current_wal_lsn() on a primary.
	CurrentLSN LSN
	// ReceiveLSN is pg_last_wal_receive_lsn() on a standby: WAL received and
	// flushed to its disk.
	ReceiveLSN LSN
	// ReplayLSN is pg_last_wal_replay_lsn() on a standby.
	ReplayLSN LSN
	// LagBytes is, on a standby, how far replay trails what was received;
	// on a primary, the largest replay lag of its connected standbys.
	LagBytes uint64
	// ReplayDelay is, on a standby with WAL received but not yet replayed,
	// the age of the last replayed transaction; 0 when replay has caught up
	// with what was received.
	ReplayDelay  time.Duration
	ReplayPaused bool // a standby's replay is paused (pg_wal_replay_pause)
	Streaming    bool // a standby's WAL receiver is streaming from its upstream

	// Standbys are the rows of pg_stat_replication (WAL senders).
	Standbys []PGStandby

	Wrote        bool          // the heartbeat write committed during this check
	WriteLatency time.Duration // round trip of the transaction that committed the write
}

// PGStandby is one WAL sender of a primary, from pg_stat_replication.
type PGStandby struct {
	Name      string // application_name (the standby's cluster_name or "walreceiver")
	Addr      string // client address, empty for a unix socket
	State     string // streaming, catchup, startup, backup, stopping
	SyncState string // async, potential, sync, quorum
	ReplayLSN LSN    // replay_lsn as reported by the standby
	LagBytes  uint64 // the primary's current LSN minus ReplayLSN
}

// StreamingStandbys counts standbys in state "streaming".
func (s PGState) StreamingStandbys() int {
	n := 0
	for _, sb := range s.Standbys {
		if sb.State == "streaming" {
			n++
		}
	}
	return n
}

// WALPosition is the most recent WAL position the server has: the current
// LSN on a primary; on a standby the received LSN, or the replayed one when
// nothing was received by streaming.
func (s PGState) WALPosition() LSN {
	switch {
	case !s.InRecovery:
		return s.CurrentLSN
	case s.ReceiveLSN != 0:
		return max(s.ReceiveLSN, s.ReplayLSN)
	default:
		return s.ReplayLSN
	}
}

// values returns the numbers a check publishes in Result.Values.
func (s PGState) values() map[string]float64 {
	v := map[string]float64{
		"in_recovery":          0,
		"lag_bytes":            float64(s.LagBytes),
		"replay_delay_seconds": s.ReplayDelay.Seconds(),
		"standbys":             float64(s.StreamingStandbys()),
		"wal_lsn":              float64(s.WALPosition()),
	}
	if s.InRecovery {
		v["in_recovery"] = 1
	}
	if s.Wrote {
		v["write_latency_seconds"] = s.WriteLatency.Seconds()
	}
	return v
}

// detail renders the state as the one line a person reads.
func (s PGState) detail() string {
	var b strings.Builder
	if s.InRecovery {
		fmt.Fprintf(&b, "standby, replay lag %s, delay %.1fs", fmtBytes(s.LagBytes), s.ReplayDelay.Seconds())
		if s.ReplayPaused {
			b.WriteString(", replay paused")
		}
		if !s.Streaming {
			b.WriteString(", not streaming")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "primary, wal %s, %s", s.CurrentLSN, s.standbysSummary())
	if s.Wrote {
		fmt.Fprintf(&b, ", write %.1f ms", float64(s.WriteLatency)/float64(time.Millisecond))
	}
	return b.String()
}

// standbysSummary says how many standbys are connected and in which state:
// "no standbys", "1 standby streaming", "2 standbys (1 streaming, 1 catchup)".
func (s PGState) standbysSummary() string {
	n := len(s.Standbys)
	if n == 0 {
		return "no standbys"
	}
	var states []string
	count := map[string]int{}
	for _, sb := range s.Standbys {
		st := sb.State
		if st == "" {
			st = "unknown"
		}
		if count[st] == 0 {
			states = append(states, st)
		}
		count[st]++
	}
	noun := "standbys"
	if n == 1 {
		noun = "standby"
	}
	if len(states) == 1 {
		return fmt.Sprintf("%d %s %s", n, noun, states[0])
	}
	parts := make([]string, len(states))
	for i, st := range states {
		parts[i] = fmt.Sprintf("%d %s", count[st], st)
	}
	return fmt.Sprintf("%d %s (%s)", n, noun, strings.Join(parts, ", "))
}

// fmtBytes renders a byte count with a binary unit: "0 B", "16.0 MiB".
func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// LastPG returns what the first pg check of checks last read, and whether
// that reading is fresh at now: from a check begun within two of its
// intervals and a timeout (a check that ran late is still fresh, one that no
// longer reaches the server is not). ok is false without a pg check or
// before its first reading.
func LastPG(checks []Check, now time.Time) (st PGState, fresh, ok bool) {
	for _, c := range checks {
		if pg, isPG := c.Probe.(*PG); isPG {
			st, ok = pg.Last()
			return st, ok && now.Sub(st.At) <= 2*c.Interval+c.Timeout, ok
		}
	}
	return PGState{}, false, false
}
