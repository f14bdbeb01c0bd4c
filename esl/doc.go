// Package esl checks a FreeSWITCH server through its inbound event socket:
// it keeps one authenticated connection, runs "status", "sofia status" and
// optionally "show calls count", parses their output and turns the numbers
// into a probe verdict.
//
// The wire client is owned here rather than taken from eslgo. eslgo v1.4.1
// renders commands and models replies soundly, and this package uses both
// (its command package and RawResponse), but its connection code cannot be
// used by a prober: Dial waits for auth/request with no timeout and blocks
// forever on a silent, closing or ACL-rejecting server; a reply that arrives
// after a command's context expired is handed to the next command; the write
// deadline set from one context sticks to later calls; a wrong password costs
// its 5 s exit timeout; and Close races its receive loops under -race. Conn
// below reads frames itself, bounds every operation by its context and
// discards a connection after any timeout or unexpected frame, so none of
// those defects can reach a verdict.
package esl
