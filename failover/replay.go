package failover

import (
	"fmt"
	"time"
)

// DefaultSkewWindow is the clock skew tolerated between the two nodes when a
// peer's new boot is first heard.
const DefaultSkewWindow = 30 * time.Second

// ReplayGuard accepts each heartbeat of one peer at most once per path.
//
// Within one boot of the peer a heartbeat is accepted on a path only if its
// sequence number is higher than the last one accepted on that path (the peer
// sends the same heartbeat on every path, so each path keeps its own mark). A
// heartbeat with a different boot id — the peer restarted — is accepted only
// if its sent time lies within the skew window of the local clock and is later
// than the newest heartbeat of the boot it replaces. A recording of an
// earlier boot therefore fails one test or the other: it is either older than
// the window, or older than the boot now current. The second test is waived
// once the current boot has been silent for longer than the window, so that a
// peer whose clock stepped back across a restart is accepted again after at
// most one window.
//
// A ReplayGuard is not safe for concurrent use; PeerTracker serialises it.
type ReplayGuard struct {
	window  time.Duration
	have    bool
	boot    BootID
	newest  time.Time // Sent of the newest accepted heartbeat of boot
	heardAt time.Time // local time the newest one was accepted
	maxSeq  uint64
	pathSeq []uint64
}

// NewReplayGuard returns a guard for a peer reached over paths paths, with
// the given clock skew window (DefaultSkewWindow when zero or negative).
func NewReplayGuard(paths int, window time.Duration) *ReplayGuard {
	if window <= 0 {
		window = DefaultSkewWindow
	}
	return &ReplayGuard{window: window, pathSeq: make([]uint64, paths)}
}

// Check accepts or rejects hb, received on path at local time now. It returns
// ErrReplay, ErrStale or ErrPath (wrapped) for a heartbeat to drop. fresh is
// true when hb is newer than every heartbeat accepted before on any path: the
// peer's view should be replaced by it. An accepted duplicate from another
// path is not fresh but still proves that path alive.
func (g *ReplayGuard) Check(path int, hb Heartbeat, now time.Time) (fresh bool, err error) {
	if path < 0 || path >= len(g.pathSeq) {
		return false, fmt.Errorf("%w: %d of %d", ErrPath, path, len(g.pathSeq))
	}
	if hb.Seq == 0 {
		return false, fmt.Errorf("%w: seq 0 is never sent", ErrReplay)
	}
	if !g.have || hb.Boot != g.boot {
		if skew := hb.Sent.Sub(now).Abs(); skew > g.window {
			return false, fmt.Errorf("%w: new boot %s sent %s from the local clock, beyond the %s skew window", ErrStale, hb.Boot, skew.Round(time.Millisecond), g.window)
		}
		if g.have && !hb.Sent.After(g.newest) && now.Sub(g.heardAt) <= g.window {
			return false, fmt.Errorf("%w: boot %s sent at %s is not newer than current boot %s", ErrStale, hb.Boot, hb.Sent.Format(time.RFC3339Nano), g.boot)
		}
		g.have, g.boot, g.maxSeq = true, hb.Boot, 0
		clear(g.pathSeq)
	}
	if hb.Seq <= g.pathSeq[path] {
		return false, fmt.Errorf("%w: seq %d on path %d, already at %d", ErrReplay, hb.Seq, path, g.pathSeq[path])
	}
	g.pathSeq[path] = hb.Seq
	if hb.Seq <= g.maxSeq {
		return false, nil
	}
	g.maxSeq, g.newest, g.heardAt = hb.Seq, hb.Sent, now
	return true, nil
}

// Seen reports whether hb would be dropped as a replay on path: its boot is
// the current one and its sequence number not newer than the last accepted
// on that path. It changes nothing; a cheap check before a packet is queued.
func (g *ReplayGuard) Seen(path int, hb Heartbeat) bool {
	return g.have && hb.Boot == g.boot && path >= 0 && path < len(g.pathSeq) && hb.Seq <= g.pathSeq[path]
}
