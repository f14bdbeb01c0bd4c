package failover

import "time"

// Timeline records when the steps of one takeover or release happened. The
// node fills Detected and Decided; the actuators fill the steps they have
// (zero for a step they do not have, e.g. DBPromoted without a managed
// database).
type Timeline struct {
	Detected time.Time // takeover: this node first saw no live primary; release: the decision
	Decided  time.Time // Decide chose take_over or release
	// Takeover steps.
	DBPromoted time.Time // the database accepted writes
	VIPUp      time.Time // the VIP was added and announced
	Ready      time.Time // the PBX serves and the hooks ran; the node sets it to TakeOver's return when zero
	// Release steps.
	HooksRan  time.Time // the release hooks ran
	VIPDown   time.Time // the VIP was removed
	DBDemoted time.Time // the database no longer takes writes (demoted or stopped)
	Released  time.Time // all done; the node sets it to Release's return when zero
	// FilesSynced is, for a takeover with file sync, when the files were
	// last synced complete from the old primary: Details reports their age
	// at Detected as files_age_ms. Zero: no file sync, or never synced.
	FilesSynced time.Time
}

// timelineStep is one named step of a Timeline.
type timelineStep struct {
	key, what string
	at        time.Time
}

// steps names the timeline's steps in the order they happen.
func (t Timeline) steps() []timelineStep {
	return []timelineStep{
		{"decided_ms", "decided", t.Decided},
		{"db_promoted_ms", "database promoted", t.DBPromoted},
		{"vip_up_ms", "VIP up", t.VIPUp},
		{"ready_ms", "ready", t.Ready},
		{"hooks_ran_ms", "release hooks ran", t.HooksRan},
		{"vip_down_ms", "VIP down", t.VIPDown},
		{"db_demoted_ms", "database no longer writable", t.DBDemoted},
		{"released_ms", "released", t.Released},
	}
}

// Details returns the timeline for an event: each step that happened as
// milliseconds after Detected ("decided_ms", "db_promoted_ms", "vip_up_ms",
// "ready_ms"; for a release "hooks_ran_ms", "vip_down_ms", "db_demoted_ms",
// "released_ms") and "detected" as RFC 3339.
func (t Timeline) Details() map[string]any {
	d := map[string]any{"detected": t.Detected.Format(time.RFC3339Nano)}
	for _, s := range t.steps() {
		if !s.at.IsZero() {
			d[s.key] = t.Since(s.at).Milliseconds()
		}
	}
	if !t.FilesSynced.IsZero() {
		d["files_synced"] = t.FilesSynced.Format(time.RFC3339Nano)
		d["files_age_ms"] = t.Detected.Sub(t.FilesSynced).Milliseconds()
	}
	return d
}

// Steps returns the steps that happened, in order, as node's.
func (t Timeline) Steps(node string) []Step {
	var out []Step
	for _, s := range t.steps() {
		if s.at.IsZero() {
			continue
		}
		what := s.what
		if s.key == "decided_ms" {
			what = "takeover decided"
			if !t.Released.IsZero() {
				what = "release decided"
			}
		}
		out = append(out, Step{At: s.at, Node: node, What: what})
	}
	return out
}

// Since returns how long after Detected the step at happened.
func (t Timeline) Since(at time.Time) time.Duration { return at.Sub(t.Detected) }

// Step is one timed step of a switchover, on either node, for the timeline
// `pbxha switchover` prints.
type Step struct {
	At   time.Time `json:"at"`
	Node string    `json:"node"`
	What string    `json:"what"`
}
