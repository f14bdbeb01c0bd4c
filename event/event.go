// Package event defines pbxha's events — every transition worth telling an
// operator about — and a Publisher that hands them to the event log and the
// alert outbox without ever blocking the code that emits them.
package event

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Severity ranks events for filters and for dropping under pressure.
type Severity int

// Severities, from least to most urgent.
const (
	Info Severity = iota
	Warning
	Critical
)

// String returns "info", "warning" or "critical".
func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	default:
		return "info"
	}
}

// MarshalText encodes the severity as its String form.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes "info", "warning" or "critical".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "info":
		*s = Info
	case "warning":
		*s = Warning
	case "critical":
		*s = Critical
	default:
		return fmt.Errorf("event: severity %q: want info, warning or critical", b)
	}
	return nil
}

// Kinds of events. Details keys per kind are documented in README.
const (
	ProbeState          = "probe_state"              // a probe's settled state changed
	HealthChange        = "health_change"            // the node's health changed
	PBXStarted          = "pbx_started"              // the PBX was started (first start, or by an operator)
	PBXStopped          = "pbx_stopped"              // an operator stopped the PBX
	PBXReset            = "pbx_reset"                // an operator cleared the restart count and the fault
	PBXDown             = "pbx_down"                 // the PBX process died
	PBXHung             = "pbx_hung"                 // the PBX process lived but its service failed for hang_grace
	PBXRestarted        = "pbx_restarted"            // the PBX was started again (details: downtime_ms)
	RestartLimitReached = "restart_limit_reached"    // too many restarts in the window: node fault
	RoleChange          = "role_change"              // the node's role changed
	Failover            = "failover"                 // an unplanned takeover finished (details: timeline)
	Switchover          = "switchover"               // a planned takeover finished
	TakeoverStepFailed  = "takeover_step_failed"     // a best-effort step of a takeover failed; the takeover went on (details: step, failed)
	DBRejoinFailed      = "db_rejoin_failed"         // after a release stopped the database, it did not rejoin as a standby of the new primary (details: target, peer_host, role, error, took_ms, since_stop_ms)
	ActionFailed        = "action_failed"            // a failover action (take over, release, fence, restart the PBX) failed; once per run of failures, resolved when it works again (details: action, error, reason)
	SplitBrain          = "split_brain"              // two primaries met
	SyncLagging         = "sync_lagging"             // a pulled directory's copy is older than sync.lag_alert; resolved when caught up (details: dir, peer, age_s, lag_alert_s, error)
	SyncRefused         = "sync_refused"             // a sync source was refused (missing, unmounted, empty, no marker): nothing copied or deleted; resolved at the next complete sync (details: dir, peer, error)
	RebuildStarted      = "standby_rebuild_started"  // a standby rebuild began (details: from, reason, data_dir)
	RebuildFinished     = "standby_rebuild_finished" // the rebuilt standby streams from the primary (details: from, took_ms, bytes)
	RebuildFailed       = "standby_rebuild_failed"   // a standby rebuild failed; the old data directory was put back (details: from, phase, error, restored)
	PeerPathLost        = "peer_path_lost"           // one heartbeat path went silent
	StateDirUnwritable  = "state_dir_unwritable"     // the state directory refuses a durable write or is nearly full: a takeover cannot persist its epoch; once per episode, resolved when a write works again (details: path, error, epoch)
	Maintenance         = "maintenance"              // maintenance mode switched on or off
	ConfigReload        = "config_reload"            // a SIGHUP reload was applied or refused
	Isolated            = "isolated"                 // a primary cut off from its peer and its tie-breakers stepped down (details: timeline); resolved when it hears the peer again
	VIPLost             = "vip_lost"                 // the VIP left the primary's interface; resolved when it was put back
	PairUnprotected     = "pair_unprotected"         // for longer than unprotected_grace the pair could not survive the next fault (details: reason); resolved when protected again
	ClockOffset         = "clock_offset"             // the peer's clock is off by more than max_clock_offset (details: offset_ms); resolved when back within
	HeartbeatAuthFailed = "heartbeat_auth_failed"    // heartbeats from the peer's address fail the MAC: the keys differ (details: count); resolved when they pass again
	Test                = "test"                     // sent by `pbxha alert test`
)

// Kinds lists every event kind, in the order above: what alert endpoints
// may filter on. Config validation and alert delivery both check against
// it, so a new kind is added here once.
var Kinds = []string{ProbeState, HealthChange, PBXStarted, PBXStopped, PBXReset, PBXDown, PBXHung, PBXRestarted,
	RestartLimitReached, RoleChange, Failover, Switchover, TakeoverStepFailed, DBRejoinFailed, ActionFailed,
	SplitBrain, SyncLagging, SyncRefused, RebuildStarted, RebuildFinished, RebuildFailed,
	PeerPathLost, StateDirUnwritable, Maintenance, ConfigReload, Isolated, VIPLost, PairUnprotected, ClockOffset, HeartbeatAuthFailed, Test}

// Event is one transition. ID stays the same across delivery retries so that
// receivers can de-duplicate.
type Event struct {
	ID       string         `json:"id"`
	Kind     string         `json:"kind"`
	Severity Severity       `json:"severity"`
	Node     string         `json:"node"`
	Cluster  string         `json:"cluster"`
	Time     time.Time      `json:"time"`
	Summary  string         `json:"summary"`            // one line for people
	Details  map[string]any `json:"details,omitempty"`  // kind-specific, JSON-encodable
	Resolved bool           `json:"resolved,omitempty"` // the condition this kind reports has ended (probe back to ok, ...)
}

// NewID returns a new event ID: sortable by time, unique across nodes.
func NewID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	return fmt.Sprintf("%016x-%s", now.UnixNano(), hex.EncodeToString(b[:]))
}

// Sink receives published events. Publish must not block: a sink that does
// slow work (disk, network) queues the event and does it elsewhere.
type Sink interface {
	Publish(Event)
}

// Publisher stamps events with ID, node, cluster and time and hands them to
// every sink. It is safe for concurrent use.
type Publisher struct {
	Node, Cluster string
	Sinks         []Sink
	Now           func() time.Time // default time.Now
}

// Publish fills in the event's ID, node, cluster and time (where empty) and
// hands it to every sink. It returns the completed event.
func (p *Publisher) Publish(e Event) Event {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if e.Time.IsZero() {
		e.Time = now()
	}
	if e.ID == "" {
		e.ID = NewID(e.Time)
	}
	if e.Node == "" {
		e.Node = p.Node
	}
	if e.Cluster == "" {
		e.Cluster = p.Cluster
	}
	for _, s := range p.Sinks {
		s.Publish(e)
	}
	return e
}

// Filter selects events for `pbxha events`: of the listed kinds (all when
// empty), at or above MinSeverity, at or after Since (any when zero).
type Filter struct {
	Kinds       []string
	MinSeverity Severity
	Since       time.Time
}

// Match reports whether e passes the filter.
func (f Filter) Match(e Event) bool {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, e.Kind) {
		return false
	}
	return e.Severity >= f.MinSeverity && (f.Since.IsZero() || !e.Time.Before(f.Since))
}
