package alert

import "github.com/pbxha/pbxha/event"

// entry is one event queued for one endpoint.
type entry struct {
	rec      record
	path     string // outbox file; empty when it could not be written (persist sets it later, under endpointState.mu)
	inflight bool   // being delivered: never chosen for dropping
}

// victim returns the index of the item to drop from a full queue: the oldest
// of the lowest severity, skipping items for which skip is true; -1 when every
// item is skipped.
func victim(n int, sev func(int) event.Severity, skip func(int) bool) int {
	best := -1
	for i := range n {
		if skip(i) {
			continue
		}
		if best < 0 || sev(i) < sev(best) {
			best = i
		}
	}
	return best
}
