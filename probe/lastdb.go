package probe

import (
	"fmt"
	"time"
)

// DBRole is a database's role as the failover decision reads it, whatever
// its kind.
type DBRole int

// Database roles of a reading.
const (
	DBRoleUnknown DBRole = iota
	DBRolePrimary        // PostgreSQL not in recovery; MariaDB/MySQL read_only off
	DBRoleStandby        // PostgreSQL in recovery; MariaDB/MySQL read_only on
)

// DBReading is what the failover decision needs of the managed database,
// from the first pg or mysql probe.
type DBReading struct {
	Kind Kind // KindPG or KindMySQL
	Role DBRole
	// Position is the newest position the server holds: a WAL LSN
	// (PostgreSQL) or a GTID transaction count (MariaDB/MySQL, see
	// ParseGTIDSet). It is what the heartbeat carries.
	Position uint64
	// Streaming counts, on a primary, the standbys streaming from it
	// (PostgreSQL) or its connected replicas (MariaDB/MySQL).
	Streaming int
}

// LastDB returns the last reading of the first pg or mysql probe of
// checks, and whether it is fresh at now (a check begun within two of its
// intervals and a timeout). ok is false without such a probe or before its
// first reading.
func LastDB(checks []Check, now time.Time) (r DBReading, fresh, ok bool) {
	for _, c := range checks {
		switch p := c.Probe.(type) {
		case *PG:
			st, have := p.Last()
			if !have {
				return DBReading{Kind: KindPG}, false, false
			}
			r = DBReading{Kind: KindPG, Role: DBRolePrimary, Position: uint64(st.WALPosition()), Streaming: st.StreamingStandbys()}
			if st.Role == PGRoleStandby {
				r.Role = DBRoleStandby
			}
			return r, now.Sub(st.At) <= 2*c.Interval+c.Timeout, true
		case *MySQL:
			st, have := p.Last()
			if !have {
				return DBReading{Kind: KindMySQL}, false, false
			}
			r = DBReading{Kind: KindMySQL, Role: DBRolePrimary, Position: st.Position(), Streaming: len(st.Replicas)}
			if st.Role == MySQLRoleReplica {
				r.Role = DBRoleStandby
			}
			return r, now.Sub(st.At) <= 2*c.Interval+c.Timeout, true
		}
	}
	return DBReading{}, false, false
}

// FormatDBPosition renders a heartbeat's database position for status: an
// LSN ("0/3000060") for PostgreSQL, "gtid N" (transactions) for
// MariaDB/MySQL.
func FormatDBPosition(kind Kind, pos uint64) string {
	if kind == KindMySQL {
		return fmt.Sprintf("gtid %d", pos)
	}
	return LSN(pos).String()
}
