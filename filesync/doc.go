// Package filesync keeps directories of the PBX (recordings, voicemail,
// prompts, provisioning files) in step between the two nodes of a pair
// with rsync: each node serves its directories read-only from an rsync
// daemon it runs itself, the standby pulls them from the primary with a
// bandwidth cap, and the direction follows the role. A source that is
// missing, unmounted, empty or without its marker file is refused before
// anything is deleted, and deletions are propagated only after a complete
// transfer.
package filesync
