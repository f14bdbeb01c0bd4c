package failover

import "errors"

// Reasons a received heartbeat is dropped. Callers branch on them with
// errors.Is and count them; a dropped packet is never acted on.
var (
	// ErrTruncated: the packet is shorter than its header or its declared length.
	ErrTruncated = errors.New("truncated")
	// ErrBadMAC: the HMAC does not match (forged, corrupted, or another key).
	ErrBadMAC = errors.New("bad mac")
	// ErrVersion: a heartbeat format version this build does not speak.
	ErrVersion = errors.New("unsupported version")
	// ErrCluster: a heartbeat of another cluster.
	ErrCluster = errors.New("foreign cluster")
	// ErrMalformed: not a heartbeat, or a field out of range.
	ErrMalformed = errors.New("malformed")
	// ErrReplay: the sequence number is not newer than one already accepted on
	// this path for the same boot.
	ErrReplay = errors.New("replayed")
	// ErrStale: a new boot id whose sent time is outside the clock-skew window,
	// or older than the boot already accepted.
	ErrStale = errors.New("stale")
	// ErrOvertaken: a takeover was not started because a live primary was
	// heard after it had been decided (Move.Still); nothing was done.
	ErrOvertaken = errors.New("overtaken")
	// ErrSelf: a heartbeat carrying this node's own name (a looped path or a
	// misconfigured peer).
	ErrSelf = errors.New("own node name")
	// ErrPath: a packet reported on a path index that does not exist.
	ErrPath = errors.New("unknown path")
)

// DropReason returns the counter label for a receive error: "truncated",
// "bad_mac", "version", "cluster", "malformed", "replay", "stale", "self",
// "path", or "other".
func DropReason(err error) string {
	switch {
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrBadMAC):
		return "bad_mac"
	case errors.Is(err, ErrVersion):
		return "version"
	case errors.Is(err, ErrCluster):
		return "cluster"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrReplay):
		return "replay"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrSelf):
		return "self"
	case errors.Is(err, ErrPath):
		return "path"
	default:
		return "other"
	}
}
