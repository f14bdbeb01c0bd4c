// Package failover will coordinate the two nodes of a pair: the peer heartbeat,
// the pure takeover/release decision, and moving the VIP and the PostgreSQL
// primary role. Nothing here yet; single-node mode does not use it.
package failover
