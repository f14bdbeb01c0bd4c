// Package failover keeps exactly one node of a pair primary: it speaks the
// authenticated UDP heartbeat between the two sidecars, tracks the peer's view,
// decides — in one pure function — whether to take over, release, restart the
// PBX or fence the peer, and persists the epoch that orders takeovers.
//
// Nothing here performs the takeover itself: the VIP, the database role and
// the PBX are moved by actuators that the daemon wires to Decide's result.
package failover
