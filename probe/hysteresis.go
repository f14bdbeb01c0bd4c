package probe

// Hysteresis settles a stream of check results into a state that moves only
// after enough consecutive evidence: Fall consecutive results at least as bad
// as a worse state to move there, Rise consecutive results better than the
// current state to improve. Degraded and Failed are thresholds of their own, so
// a probe that answers 503 and then times out goes Degraded, then Failed, each
// after Fall results; one Failed result inside a Degraded run does not make the
// probe Failed.
//
// The zero value is not usable; set Rise and Fall (both at least 1). It is not
// safe for concurrent use.
type Hysteresis struct {
	Rise int // consecutive better results needed to improve
	Fall int // consecutive worse results needed to worsen

	state Status
	// atLeast[s] counts consecutive results with status >= s, and below[s]
	// consecutive results with status < s, for s in Degraded, Failed.
	atLeast [Failed + 1]int
	below   [Failed + 1]int
}

// State returns the settled state; Unknown until the first transition.
func (h *Hysteresis) State() Status { return h.state }

// Failures returns the number of consecutive results that were not OK.
func (h *Hysteresis) Failures() int { return h.atLeast[Degraded] }

// Observe feeds one result status and returns the settled state and whether it
// changed. An Unknown result counts as Failed: a check that could not decide
// is no evidence of health.
func (h *Hysteresis) Observe(s Status) (Status, bool) {
	if s == Unknown {
		s = Failed
	}
	for _, lvl := range []Status{Degraded, Failed} {
		if s >= lvl {
			h.atLeast[lvl]++
			h.below[lvl] = 0
		} else {
			h.below[lvl]++
			h.atLeast[lvl] = 0
		}
	}
	next := h.state
	switch {
	case h.state != Failed && h.atLeast[Failed] >= h.Fall:
		next = Failed
	case h.state < Degraded && h.atLeast[Degraded] >= h.Fall:
		next = Degraded
	case h.state == Unknown && h.below[Degraded] >= h.Rise:
		next = OK
	case h.state >= Degraded && h.below[h.state] >= h.Rise:
		next = Degraded
		if h.below[Degraded] >= h.Rise {
			next = OK
		}
	}
	changed := next != h.state
	h.state = next
	return next, changed
}
