package dbrole

import (
	"time"

	"github.com/pbxha/pbxha/probe"
)

// Result is what one Promote, Demote, Stop or Rejoin did, for logs and the
// failover event's timeline.
type Result struct {
	Action   string        // "promote", "demote", "stop" or "rejoin"
	Start    time.Time     // when the operation began
	Duration time.Duration // until it returned

	// Before and After are the server's role at the start and at the end.
	Before, After Role
	// Changed reports that the server's role was moved: promoted, demoted to
	// a standby or stopped. False for a no-op (already in the wanted role).
	Changed bool

	// LocalLSN is, for Promote, the newest WAL position the standby held
	// before promotion (received or replayed); for a server that already was
	// primary, its current position.
	LocalLSN probe.LSN
	// PeerLSN is the peer's last announced position passed to Promote
	// (zero: unknown).
	PeerLSN probe.LSN
	// LagBytes is PeerLSN minus LocalLSN (0 when not behind or unknown).
	LagBytes uint64
	// Overridden reports that the standby was promoted although it was more
	// than MaxLagBytes behind, or the peer's position was unknown, because
	// of force or AllowLag: transactions may have been lost.
	Overridden bool

	// Steps are the timed steps in the order they ran.
	Steps []Step
}

// Step is one timed part of an operation: "read role", "promote",
// "verify", "demote command", "stop command".
type Step struct {
	Name     string
	Start    time.Time
	Duration time.Duration
	// Err is the step's error text; empty when it succeeded.
	Err string
	// Output is the start of a command step's combined stdout and stderr
	// (at most hooks.OutputLimit bytes).
	Output string
}

// step times one step, appending it to r.Steps.
func (r *Result) step(now func() time.Time, name string, f func() (output string, err error)) error {
	start := now()
	t0 := time.Now()
	out, err := f()
	s := Step{Name: name, Start: start, Duration: time.Since(t0), Output: out}
	if err != nil {
		s.Err = err.Error()
	}
	r.Steps = append(r.Steps, s)
	return err
}

// finish sets the total duration.
func (r *Result) finish(t0 time.Time) { r.Duration = time.Since(t0) }
