package supervisor

import (
	"fmt"
	"time"

	"github.com/pbxha/pbxha/event"
)

// Event kinds.
const (
	EventStarted      = "pbx_started"           // the PBX was started (first start, or by an operator)
	EventDown         = "pbx_down"              // the PBX process exited on its own
	EventHung         = "pbx_hung"              // alive, but its critical service failed for HangGrace: killed
	EventRestarted    = "pbx_restarted"         // started again after it died, hung or an operator restart
	EventLimitReached = "restart_limit_reached" // MaxRestarts within Window: fault, no more restarts for now
	EventStopped      = "pbx_stopped"           // stopped by an operator; stays stopped until Start
	EventReset        = "pbx_reset"             // an operator cleared the restart count and the fault
)

// Event is one change of the PBX's life. Downtime (pbx_restarted) runs from
// the death or the kill to the new process being started: the supervisor
// does not speak SIP, so the time until it answers is the probes' business.
type Event struct {
	Kind     string
	Time     time.Time
	PID      int           // the process the event is about (the new one for pbx_restarted)
	Reason   string        // one line: why
	Downtime time.Duration // pbx_restarted only
	Exit     string        // how the process ended: "exit status 1", "signal KILL", ...
}

// States of the PBX reported by Status.
const (
	StateRunning   = "running"
	StateStopped   = "stopped"   // by an operator, or down while in maintenance
	StateStarting  = "starting"  // a start is in progress
	StateBackoff   = "backoff"   // down, restart scheduled at NextRestart
	StateFault     = "fault"     // down, restart limit reached; next try at NextRestart
	StateUnmanaged = "unmanaged" // mode none
	StateUnknown   = "unknown"   // Run has not looked yet
)

// Status is a snapshot of the supervisor for `pbxha status`.
type Status struct {
	Mode             Mode
	State            string
	PID              int       // 0 when no PBX process is known
	StartedAt        time.Time // when the known process started (zero if none)
	RestartsInWindow int       // automatic restarts within the last Window
	LastExit         string    // how the previous process ended: "exit status 1", "signal KILL"
	Fault            bool
	FaultReason      string
	NextRestart      time.Time // in backoff or fault: when the next automatic start is due
	Maintenance      bool
}

// AsEvent is e as a pbxha event: its kind, a severity (critical for a PBX
// that went down, hung or reached the restart limit; info for a start,
// reset or restart, which resolves the outage), a summary and details.
func (e Event) AsEvent() event.Event {
	details := map[string]any{"pid": e.PID, "reason": e.Reason}
	if e.Exit != "" {
		details["exit"] = e.Exit
	}
	sev, summary := event.Warning, fmt.Sprintf("PBX %s (pid %d): %s", e.Kind, e.PID, e.Reason)
	switch e.Kind {
	case EventStarted, EventReset:
		sev = event.Info
	case EventRestarted:
		sev = event.Info
		details["downtime_ms"] = e.Downtime.Milliseconds()
		summary = fmt.Sprintf("PBX restarted (pid %d) after %d ms down: %s", e.PID, e.Downtime.Milliseconds(), e.Reason)
	case EventDown:
		sev = event.Critical
		summary = fmt.Sprintf("PBX down (pid %d, %s)", e.PID, e.Exit)
	case EventHung:
		sev = event.Critical
		summary = fmt.Sprintf("PBX hung (pid %d): %s; killed", e.PID, e.Reason)
	case EventLimitReached:
		sev = event.Critical
		summary = "PBX restart limit reached, node fault: " + e.Reason
	}
	return event.Event{Kind: e.Kind, Severity: sev, Time: e.Time, Summary: summary, Details: details,
		Resolved: e.Kind == EventRestarted}
}
