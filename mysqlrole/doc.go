// Package mysqlrole moves the MariaDB/MySQL primary role between the nodes
// of a pair: the counterpart of package dbrole, which does it for
// PostgreSQL, behind the same act.Database interface and with dbrole's
// Result, Role and DemoteArgs.
//
// A server is primary when read_only is off. On takeover, Mover.Promote
// waits (within PromoteTimeout) for the replica's IO thread to receive
// what the old primary announced in its heartbeat, refuses a replica more
// than MaxLagTransactions behind (no silent data loss) unless forced,
// stops the IO thread, lets the SQL thread apply the relay log, drops the
// replication configuration and turns read_only off. On release,
// Mover.Stop turns read_only (and super_read_only on MySQL) on and waits
// for the binlog dump threads to send the connected replicas the rest of
// the binary log, so the peer may promote at once; Mover.Rejoin then, in
// the background, waits for the peer to become writable and makes the
// local server its replica with GTID auto-positioning. A server that
// cannot be made read-only is stopped with the optional StopCommand: two
// writable servers must never coexist.
//
// Positions are GTID transaction counts (see probe.ParseGTIDSet), carried
// in the heartbeat where PostgreSQL carries its WAL position.
package mysqlrole
