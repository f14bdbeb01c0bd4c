package dbrole

import (
	"errors"
	"fmt"

	"github.com/pbxha/pbxha/probe"
)

// ErrTooFarBehind is matched (errors.Is) by the error of a Promote refused
// because the standby trails the peer's last announced WAL position by more
// than MaxLagBytes, or because that position is unknown. The error is a
// *LagError.
var ErrTooFarBehind = errors.New("standby too far behind")

// LagError is the refusal to promote a standby that may lack transactions
// the old primary committed.
type LagError struct {
	Target  string    // the local server
	Local   probe.LSN // newest WAL the standby holds
	Peer    probe.LSN // the peer's last announced position; zero: unknown
	Lag     uint64    // Peer minus Local in bytes
	MaxLag  uint64    // MaxLagBytes
	Unknown bool      // the peer never announced a position
}

// Error says how far behind the standby is and what would override it.
func (e *LagError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("dbrole: promote %s: peer wal position unknown, local wal %s: not promoting without force or allow_lag: %s",
			e.Target, e.Local, ErrTooFarBehind)
	}
	return fmt.Sprintf("dbrole: promote %s: local wal %s is %d bytes behind peer wal %s (max_lag_bytes %d): not promoting without force or allow_lag: %s",
		e.Target, e.Local, e.Lag, e.Peer, e.MaxLag, ErrTooFarBehind)
}

// Is matches ErrTooFarBehind.
func (e *LagError) Is(target error) bool { return target == ErrTooFarBehind }

// checkLag decides whether a standby at local may be promoted when the peer
// announced peer (zero: unknown). An unknown position is refused like a
// large lag: the old primary may have committed anything since, and "no
// silent data loss" means promoting then needs an explicit override.
// override (force or AllowLag) turns a refusal into overridden = true.
func checkLag(target string, local, peer probe.LSN, maxLag uint64, override bool) (lag uint64, overridden bool, err error) {
	lag = peer.BytesAfter(local)
	unknown := peer == 0
	if !unknown && lag <= maxLag {
		return lag, false, nil
	}
	if override {
		return lag, true, nil
	}
	return lag, false, &LagError{Target: target, Local: local, Peer: peer, Lag: lag, MaxLag: maxLag, Unknown: unknown}
}
