package failover

import "context"

// Move is what one takeover, release or fence is about, as the decision
// that started it saw it.
type Move struct {
	Epoch   uint64 // the epoch it runs at; for a takeover the new epoch, already persisted
	Reason  string // the decision's reason
	Peer    string // the peer's node name ("" if never heard)
	PeerWAL uint64 // the peer's last announced WAL position (0: unknown)
	// Force: the takeover may promote the database past max_lag_bytes
	// (Decision.Force).
	Force bool
	// Still reports, for a takeover, whether the decision still holds: an
	// error wrapping ErrOvertaken once a live primary has been heard since
	// it was made. A takeover that had to wait (for a database rejoin)
	// asks before the first step it cannot take back; nil: always holds.
	Still func() error
}

// Actuators carry out decisions. The node calls them apart from its
// decision loop, one at a time, never concurrently: while one runs, the
// loop goes on deciding (status, switchover expiry, events) and heartbeats
// go on, but no other action starts. Each may block up to its own
// timeouts and should return early when ctx is done (the node is
// stopping).
type Actuators interface {
	// TakeOver acquires the resources in order (database, VIP, PBX, hooks)
	// at m.Epoch, which is already persisted, and returns the steps'
	// times. On an error the node calls Release to undo what was done,
	// stays in its role, and tries again after NodeConfig.RetryDelay.
	TakeOver(ctx context.Context, m Move) (Timeline, error)
	// Release gives the resources up in reverse order and returns the
	// steps' times. On an error the node stays primary and tries again
	// after NodeConfig.RetryDelay.
	Release(ctx context.Context, m Move) (Timeline, error)
	// RestartPBX restarts the local PBX (through the supervisor).
	RestartPBX(ctx context.Context) error
	// Fence makes sure the silent peer can no longer serve (fence_command).
	// On an error the node does not take over and tries again after
	// NodeConfig.RetryDelay, or at once when the peer was heard again and
	// fell silent anew.
	Fence(ctx context.Context, m Move) error
	// ReAnnounce repeats the VIP announcement (gratuitous ARP / unsolicited
	// NA) after two primaries met.
	ReAnnounce(ctx context.Context) error
	// StepDown gives the resources up in the order that ends writes first
	// — database, VIP, then the release hooks — for a primary that may be
	// cut off: its peer may promote soon. The PBX keeps running. On an
	// error the node stays primary and tries again after
	// NodeConfig.RetryDelay.
	StepDown(ctx context.Context, m Move) (Timeline, error)
	// RestoreVIP puts back and announces a VIP that left the primary's
	// interface.
	RestoreVIP(ctx context.Context) error
	// DropVIP removes a VIP found on a node that is not primary.
	DropVIP(ctx context.Context) error
	// Witness asks whether another node answers on the VIP: WitnessHeld
	// when one does (the silent peer still serves), WitnessAbsent when
	// none did within a short deadline. detail names what answered.
	Witness(ctx context.Context) (state WitnessState, detail string, err error)
}
