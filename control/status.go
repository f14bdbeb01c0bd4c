// Package control is pbxha's local control API: an HTTP/JSON service on a
// unix socket that the daemon serves and that `pbxha status` and other
// operator commands call. It owns the documented JSON schema of the status.
package control

import "time"

// SchemaVersion is the version of the Status JSON document. It changes only
// when a field is removed or changes meaning; new fields may appear at any time.
const SchemaVersion = 1

// Status is the document GET /v1/status returns.
type Status struct {
	SchemaVersion int       `json:"schema_version"`
	Node          string    `json:"node"`
	Cluster       string    `json:"cluster"`
	Mode          string    `json:"mode"`   // "single": no peer configured; "pair": two nodes; "etcd": nodes coordinated through etcd
	Role          string    `json:"role"`   // primary, standby, fault, maintenance, init
	Health        string    `json:"health"` // healthy, degraded, failed, unknown
	Version       string    `json:"version"`
	PID           int       `json:"pid"`
	StartedAt     time.Time `json:"started_at"`
	Now           time.Time `json:"now"`         // the daemon's clock when it answered
	Maintenance   bool      `json:"maintenance"` // automatic action is frozen
	Config        Config    `json:"config"`
	PBX           *PBX      `json:"pbx,omitempty"`     // the supervised PBX process; omitted with pbx.supervise.mode none
	Alerts        *Alerts   `json:"alerts,omitempty"`  // webhook delivery; omitted without endpoints
	Pair          *Pair     `json:"pair,omitempty"`    // the failover state; omitted in mode single
	Sync          *Sync     `json:"sync,omitempty"`    // file sync; omitted without sync.directories
	Rebuild       *Rebuild  `json:"rebuild,omitempty"` // the last standby rebuild since start; omitted when none ran
	Probes        []Probe   `json:"probes"`
}

// PBX is the supervised PBX process.
type PBX struct {
	Mode             string     `json:"mode"`  // exec, pidfile, systemd
	State            string     `json:"state"` // running, starting, stopped, backoff, fault, unknown
	PID              int        `json:"pid,omitempty"`
	StartedAt        *time.Time `json:"started_at,omitempty"`
	RestartsInWindow int        `json:"restarts_in_window"`
	MaxRestarts      int        `json:"max_restarts"`
	Window           string     `json:"window"`              // e.g. "10m0s"
	LastExit         string     `json:"last_exit,omitempty"` // "exit status 1", "signal KILL"
	FaultReason      string     `json:"fault_reason,omitempty"`
	NextRestart      *time.Time `json:"next_restart,omitempty"`
}

// Config tells where the running configuration came from.
type Config struct {
	Source          string    `json:"source"` // file path, or "embedded default"
	LoadedAt        time.Time `json:"loaded_at"`
	LastReloadError string    `json:"last_reload_error,omitempty"`
	// PendingRestart lists the keys changed in the file that take effect
	// only at the next start (Patroni's "pending restart"); the running
	// values stay in force until then.
	PendingRestart []string `json:"pending_restart,omitempty"`
}

// Probe is one check's settled state and recent results.
type Probe struct {
	Name                string    `json:"name"`
	Kind                string    `json:"kind"`
	Target              string    `json:"target"`
	Critical            bool      `json:"critical"`
	State               string    `json:"state"` // ok, degraded, failed, unknown
	Since               time.Time `json:"since"` // when state last changed
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Checks              int       `json:"checks"`
	Last                *Result   `json:"last,omitempty"`
	History             []Result  `json:"history"` // oldest first
}

// Result is one check's outcome.
type Result struct {
	Status    string             `json:"status"` // ok, degraded, failed, unknown
	Code      int                `json:"code,omitempty"`
	Detail    string             `json:"detail,omitempty"`
	Class     string             `json:"class,omitempty"` // timeout, refused, transport, bad_response, tls, auth, config
	Error     string             `json:"error,omitempty"`
	Start     time.Time          `json:"start"`
	LatencyMS float64            `json:"latency_ms"`
	Values    map[string]float64 `json:"values,omitempty"`
}

// Alerts is the state of webhook delivery.
type Alerts struct {
	Outbox    int             `json:"outbox"` // events waiting for delivery, all endpoints
	Endpoints []AlertEndpoint `json:"endpoints"`
}

// AlertEndpoint is one webhook receiver's delivery state.
type AlertEndpoint struct {
	Name        string     `json:"name"`
	Queued      int        `json:"queued"`
	MemoryOnly  int        `json:"memory_only"` // of the queued, events the outbox could not write (full or read-only disk): lost if pbxha stops before they are delivered
	Delivered   uint64     `json:"delivered"`
	Dropped     uint64     `json:"dropped"` // overflowed, expired (max_age) or rejected (400/413/415/422)
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// Pair is the failover state of a node in mode pair.
type Pair struct {
	Epoch     uint64 `json:"epoch"`
	Reason    string `json:"reason"` // why the last decision was taken
	LastError string `json:"last_error,omitempty"`
	// StateDirError is why the state directory takes no epoch write (a
	// failed write or write test, or too little free space): a takeover is
	// blocked until it does. StateDirSince is when that began. Both are
	// omitted while the directory is fine.
	StateDirError string     `json:"state_dir_error,omitempty"`
	StateDirSince *time.Time `json:"state_dir_since,omitempty"`
	// Acting is the action under way (take_over, release, fence_peer,
	// restart_pbx, re_announce), run apart from the decisions; empty when
	// none. ActingSince is when it started.
	Acting      string     `json:"acting,omitempty"`
	ActingSince *time.Time `json:"acting_since,omitempty"`
	// Unprotected says why the pair could not survive the next fault now
	// (empty: it could); pair_unprotected is raised after a grace.
	Unprotected string `json:"unprotected,omitempty"`
	// UnprotectedCause is Unprotected as a code: peer_unheard,
	// peer_maintenance, peer_not_eligible, no_streaming, standby_lag,
	// no_tie_breaker.
	UnprotectedCause string `json:"unprotected_cause,omitempty"`
	// HeardByPeer is the send time of the newest heartbeat of this node
	// the peer said it heard.
	HeardByPeer *time.Time `json:"heard_by_peer,omitempty"`
	// StepDownBudgetMS is how long this node, as primary, announces a
	// step-down takes at most (the peer's takeover wait covers it): the
	// configured step_down_budget, raised to the slowest measured.
	StepDownBudgetMS int64 `json:"step_down_budget_ms"`
	// ClockOffsetMS is the peer's clock minus this node's, in
	// milliseconds, as the heartbeats measure it.
	ClockOffsetMS float64 `json:"clock_offset_ms"`
	// Witness is what the VIP witness said in the peer's current silence:
	// unknown, absent or held.
	Witness string `json:"witness,omitempty"`
	VIP     string `json:"vip,omitempty"` // the service address
	// Nodes is the one cluster view, like patronictl list: this node
	// first, as it knows itself, then the peer, as its heartbeats tell.
	Nodes []ClusterNode `json:"nodes"`
	Peer  PeerState     `json:"peer"`
	// Etcd is the coordination through etcd (mode etcd only); Peer is then
	// empty and Nodes lists every live member.
	Etcd        *Etcd         `json:"etcd,omitempty"`
	RoleHistory []RoleHistory `json:"role_history"` // newest last
}

// Etcd is a node's view of the etcd coordination.
type Etcd struct {
	Endpoints []string `json:"endpoints"`
	Prefix    string   `json:"prefix"` // the cluster's keys are under it
	Leader    string   `json:"leader"` // the leader key's holder ("" none)
	// LeaseTTLMS is the lease's time to live; RenewedAt when it was last
	// renewed; SafeUntil until when it is certainly alive (a leader steps
	// down before then unless renewed).
	LeaseTTLMS int64      `json:"lease_ttl_ms"`
	RenewedAt  *time.Time `json:"renewed_at,omitempty"`
	SafeUntil  *time.Time `json:"safe_until,omitempty"`
	// Error is the last renewal's error while renewals fail, since
	// ErrorSince.
	Error      string     `json:"error,omitempty"`
	ErrorSince *time.Time `json:"error_since,omitempty"`
	// Switchover is the request in force ("" none): "to n2 (asked on n1)".
	Switchover string `json:"switchover,omitempty"`
}

// ClusterNode is one node in the cluster view.
type ClusterNode struct {
	Node   string `json:"node"`
	Self   bool   `json:"self"`   // the node that answered
	Alive  bool   `json:"alive"`  // always true for Self
	Role   string `json:"role"`   // "" for a peer never heard
	Health string `json:"health"` // "" for a peer never heard
	Epoch  uint64 `json:"epoch"`
	// DB is the node's database role (primary, standby, unknown; "" without
	// a database), WAL its position ("X/Y"), LagBytes how far its database
	// is behind the other node's (nil when not known: no database, or the
	// node is the primary).
	DB          string  `json:"db,omitempty"`
	WAL         string  `json:"wal,omitempty"`
	LagBytes    *uint64 `json:"lag_bytes,omitempty"`
	Maintenance bool    `json:"maintenance"`
	// PBX is the supervised PBX's state for Self ("running pid 4242",
	// "fault"; "" without supervision); a peer's heartbeats do not carry it.
	PBX string `json:"pbx,omitempty"`
	// Probes summarises the node's probe verdicts: "3 ok", "2 ok, 1
	// failed: sip".
	Probes    string     `json:"probes"`
	LastHeard *time.Time `json:"last_heard,omitempty"` // for the peer
}

// PeerState is what this node knows of its peer.
type PeerState struct {
	Node      string      `json:"node,omitempty"`
	Alive     bool        `json:"alive"`
	Role      string      `json:"role,omitempty"`
	Health    string      `json:"health,omitempty"`
	Epoch     uint64      `json:"epoch"`
	LastHeard *time.Time  `json:"last_heard,omitempty"`
	Paths     []PathState `json:"paths"`
	// WAL is the database position the peer last announced: a WAL LSN
	// "X/Y" (PostgreSQL) or "gtid N", a GTID transaction count
	// (MariaDB/MySQL); LagBytes how far this node's database is behind it,
	// in bytes or transactions. Both only with a database configured.
	WAL      string `json:"wal,omitempty"`
	LagBytes uint64 `json:"lag_bytes"`
}

// PathState is one heartbeat path.
type PathState struct {
	Local     string     `json:"local"`
	Peer      string     `json:"peer"`
	Alive     bool       `json:"alive"`
	LastHeard *time.Time `json:"last_heard,omitempty"`
	// Accepted counts the heartbeats accepted on the path; Drops the
	// packets dropped on it, by reason (bad_mac, replay, stale, foreign,
	// garbage, overflow...).
	Accepted uint64            `json:"accepted"`
	Drops    map[string]uint64 `json:"drops,omitempty"`
}

// RoleHistory is one role change.
type RoleHistory struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Epoch  uint64    `json:"epoch"`
	Reason string    `json:"reason"`
}

// Sync is file sync between the nodes (the sync section).
type Sync struct {
	Direction   string    `json:"direction"` // pull (standby), serve (primary) or idle
	Reason      string    `json:"reason"`    // why, one line
	Peer        string    `json:"peer"`      // the peer's sync address
	Directories []SyncDir `json:"directories"`
}

// SyncDir is one directory kept in step.
type SyncDir struct {
	Name        string `json:"name"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	State       string `json:"state"` // idle, syncing, ok, failed, refused
	// LastSuccess is when the last complete pull began: the local copy
	// holds at least what the primary had then. AgeSeconds is how long ago.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	AgeSeconds  float64    `json:"age_seconds,omitempty"`
	Lagging     bool       `json:"lagging"` // pulling, and the copy is older than sync.lag_alert
	Runs        uint64     `json:"runs"`
	Failures    uint64     `json:"failures"`
	// The last complete pull: files transferred and deleted, bytes received
	// over the network, how long it took and the rate.
	LastFiles      int64   `json:"last_files"`
	LastDeleted    int64   `json:"last_deleted"`
	LastBytes      int64   `json:"last_bytes"`
	LastDurationMS float64 `json:"last_duration_ms"`
	RateBps        float64 `json:"rate_bytes_per_second"`
	// Since pbxha started.
	TotalFiles   int64      `json:"total_files"`
	TotalDeleted int64      `json:"total_deleted"`
	TotalBytes   int64      `json:"total_bytes"`
	LastError    string     `json:"last_error,omitempty"`
	LastErrorAt  *time.Time `json:"last_error_at,omitempty"`
}

// Rebuild is a standby rebuild (pbxha standby rebuild): this node's
// database cloned anew from the primary.
type Rebuild struct {
	State      string     `json:"state"`  // running, finished, failed
	Phase      string     `json:"phase"`  // checking, stopping, cloning, starting, streaming, restoring, done
	Reason     string     `json:"reason"` // who asked: "operator", "pg_rewind failed"
	From       string     `json:"from"`   // the primary it clones
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	DoneBytes  int64      `json:"done_bytes"`
	TotalBytes int64      `json:"total_bytes"` // pg_basebackup's estimate; it may grow
	Percent    float64    `json:"percent"`
	RateBps    float64    `json:"rate_bytes_per_second"`
	ETASeconds float64    `json:"eta_seconds,omitempty"`
	Error      string     `json:"error,omitempty"`
	// KeptAside is where the old data directory waits until the new one
	// streams ("" once removed or put back).
	KeptAside string `json:"kept_aside,omitempty"`
}
