// Package rebuild re-clones a standby's PostgreSQL data directory from the
// primary with pg_basebackup (WAL streamed), with progress: it refuses on
// the primary, when the peer is not a healthy primary and while a rebuild
// runs; it keeps the old data directory aside until the new one streams
// and puts it back when the rebuild fails, also after pbxha itself was
// killed half-way (a journal in the state directory).
package rebuild
