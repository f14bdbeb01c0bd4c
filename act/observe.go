package act

import (
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

// Sources are where this node's side of the failover observation comes
// from. Each func must not block long: the decision loop calls Local once
// per decision.
type Sources struct {
	States      func() []probe.CheckState // every probe's settled state
	Checks      func() []probe.Check      // the probes run now (for the pg or mysql probe's reading)
	Maintenance func() bool               // maintenance mode set on this node
	DB          bool                      // a database is managed (database.dsn)
	PBX         PBX                       // nil: not supervised
	TieBreaker  *TieBreaker
	VIP         func() failover.VIPState // whether the interface carries the VIP; nil: untracked
	LinkDown    func() string            // a tracked interface without carrier, ""; nil: none tracked
}

// Local reads the sources into the failover.LocalState for one decision at
// now: health and probe verdicts; the tie-breaker; the VIP and the tracked
// links as their watchers last saw them; the active calls; the database's
// role and position (WAL LSN, or MariaDB/MySQL GTID transaction count) from
// the first pg or mysql probe (unknown without a reading; a primary whose
// reading is not fresh counts as having no streaming standby, so that a
// planned switchover waits rather than risk acknowledged writes); the PBX's
// fault and restart state.
func (s Sources) Local(now time.Time) failover.LocalState {
	states := s.States()
	ls := failover.LocalState{
		Health: probe.Aggregate(states), Probes: failover.Summarize(states), DB: failover.DBNone,
		Maintenance: s.Maintenance(), DBOnlyFailed: probe.DatabaseOnlyFailed(states),
	}
	if s.TieBreaker != nil {
		ls.TieBreakerOK, ls.TieBreakerAt = s.TieBreaker.OK(), s.TieBreaker.Last()
	}
	ls.ActiveCalls, ls.CallsCounted = probe.ActiveCalls(states)
	if s.VIP != nil {
		ls.VIP = s.VIP()
	}
	if s.LinkDown != nil {
		ls.LinkDown = s.LinkDown()
	}
	if s.DB {
		ls.DB = failover.DBUnknown
		if rd, fresh, ok := probe.LastDB(s.Checks(), now); ok {
			ls.WAL = rd.Position
			switch rd.Role {
			case probe.DBRolePrimary:
				ls.DB = failover.DBPrimary
				ls.NoStreamingStandby = rd.Streaming == 0 || !fresh
			case probe.DBRoleStandby:
				ls.DB = failover.DBStandby
			}
		}
	}
	if s.PBX != nil {
		st := s.PBX.State()
		ls.PBXFault, ls.RestartPending = st.Fault, st.RestartPending
	}
	return ls
}
