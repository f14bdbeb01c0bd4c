package probe

// Health is a node's verdict from all its probes after hysteresis.
type Health int

// Health values. HealthUnknown holds while a critical probe has no verdict yet
// (start-up).
const (
	HealthUnknown Health = iota
	Healthy
	HealthDegraded
	HealthFailed
)

// String returns the lowercase name used in logs, status output and JSON.
func (h Health) String() string {
	switch h {
	case Healthy:
		return "healthy"
	case HealthDegraded:
		return "degraded"
	case HealthFailed:
		return "failed"
	default:
		return "unknown"
	}
}

// MarshalText encodes the health as its String form.
func (h Health) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// Aggregate folds settled probe states into node health: failed when a
// critical probe failed; unknown while a critical probe has no verdict yet;
// degraded when a critical probe is degraded or a non-critical probe is
// degraded or failed; healthy otherwise. A non-critical probe without a
// verdict yet (start-up) does not degrade the node: a start must not read
// as unknown → degraded → healthy. A node with no probes is healthy:
// nothing says otherwise.
func Aggregate(states []CheckState) Health {
	h := Healthy
	for _, s := range states {
		switch {
		case s.Critical && s.State == Failed:
			return HealthFailed
		case s.Critical && s.State == Unknown:
			h = HealthUnknown
		case h == Healthy && (s.State == Degraded || s.State == Failed):
			h = HealthDegraded
		}
	}
	return h
}

// PBXFailed reports whether a critical probe of the PBX (any kind but a
// database) is failed: the supervisor's hang signal. A failed database must
// not get the PBX killed as hung.
func PBXFailed(states []CheckState) bool {
	for _, s := range states {
		if s.Critical && s.State == Failed && !s.Kind.Database() {
			return true
		}
	}
	return false
}

// DatabaseOnlyFailed reports whether the failed critical probes are all
// database probes: the node's health is failed, but restarting the PBX
// would not help.
func DatabaseOnlyFailed(states []CheckState) bool {
	failed := false
	for _, s := range states {
		if s.Critical && s.State == Failed {
			if !s.Kind.Database() {
				return false
			}
			failed = true
		}
	}
	return failed
}

// ActiveCalls sums the call counts that the call-counting probes (esl,
// ami) last read. counted reports whether any such probe has read one:
// without, nothing counts calls, and zero means "unknown", not "idle".
func ActiveCalls(states []CheckState) (calls int, counted bool) {
	for _, s := range states {
		if !s.Kind.CountsCalls() || s.Last == nil {
			continue
		}
		if v, ok := s.Last.Values["calls"]; ok {
			calls += int(v)
			counted = true
		}
	}
	return calls, counted
}
