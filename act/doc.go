// Package act carries out the failover decisions: it takes the primary's
// resources over in order — database, VIP, PBX, takeover commands, hooks —
// and releases them in reverse, restarts the PBX, fences a silent peer,
// rejoins a released database as a standby in the background, and reports
// what the decision needs to know of them (the database's role and WAL
// position, the PBX's state, whether a tie-breaker target answers).
//
// Each resource sits behind a small interface (Database, VIP, PBX,
// TakeoverCommands, Hooks, Fencer) with a real implementation in its own
// package and a recording fake in acttest.
package act
