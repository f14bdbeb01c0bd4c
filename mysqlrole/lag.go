package mysqlrole

import (
	"fmt"

	"github.com/pbxha/pbxha/dbrole"
)

// LagError is the refusal to promote a replica that may lack transactions
// the old primary committed. It matches dbrole.ErrTooFarBehind.
type LagError struct {
	Target  string // the local server
	Local   uint64 // transactions the replica holds (GTID position)
	Peer    uint64 // the peer's last announced position; zero: unknown
	Lag     uint64 // Peer minus Local
	MaxLag  uint64 // MaxLagTransactions
	Unknown bool   // the peer never announced a position
}

// Error says how far behind the replica is and what would override it.
func (e *LagError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("mysqlrole: promote %s: peer gtid position unknown, local %d: not promoting without force or allow_lag: %s",
			e.Target, e.Local, dbrole.ErrTooFarBehind)
	}
	return fmt.Sprintf("mysqlrole: promote %s: local gtid position %d is %d transactions behind the peer's %d (max_lag_transactions %d): not promoting without force or allow_lag: %s",
		e.Target, e.Local, e.Lag, e.Peer, e.MaxLag, dbrole.ErrTooFarBehind)
}

// Is matches dbrole.ErrTooFarBehind.
func (e *LagError) Is(target error) bool { return target == dbrole.ErrTooFarBehind }

// checkLag decides whether a replica at local may be promoted when the
// peer announced peer (zero: unknown): an unknown position is refused like
// a large lag; override (force or AllowLag) turns a refusal into
// overridden.
func checkLag(target string, local, peer, maxLag uint64, override bool) (lag uint64, overridden bool, err error) {
	if peer > local {
		lag = peer - local
	}
	unknown := peer == 0
	if !unknown && lag <= maxLag {
		return lag, false, nil
	}
	if override {
		return lag, true, nil
	}
	return lag, false, &LagError{Target: target, Local: local, Peer: peer, Lag: lag, MaxLag: maxLag, Unknown: unknown}
}
