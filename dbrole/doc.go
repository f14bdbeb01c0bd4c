// Package dbrole moves the PostgreSQL primary role between the nodes.
//
// On takeover, Mover.Promote promotes the local standby with pg_promote(),
// but only when it is no more than MaxLagBytes behind the last WAL position
// the old primary announced in its heartbeat (no silent data loss), unless
// forced. On release, Mover.Demote runs the operator's demote command, which
// turns the primary into a standby of the new primary (configs/pg-demote.sh
// is an example), and falls back to a stop command: two writable primaries
// must never coexist. A release can also come in two halves: Mover.Stop runs
// only the stop command, so that the peer may promote at once, and
// Mover.Rejoin then runs the demote command on the stopped server.
package dbrole
