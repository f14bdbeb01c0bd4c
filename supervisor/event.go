package supervisor

import "time"

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
