package pair

import (
	"time"

	"github.com/pbxha/pbxha/failover"
)

// takeResume reads the note a primary leaves when it restarts keeping the
// role: true when this process is to resume as primary (see
// failover.TakeResume). Anything else starts the node as standby, with the
// reason logged.
func (p *Pair) takeResume() bool {
	epoch, err := failover.LoadEpoch(p.cfg.StateDir)
	if err != nil {
		return false // NewNode reports it
	}
	// The peer holds off for restart_hold from this node's last heartbeat;
	// a note older than that less dead_after is too late to resume
	// safely: the peer may be about to take over.
	hold := p.cfg.Policy.RestartHold
	if hold <= 0 {
		hold = failover.DefaultRestartHold
	}
	r, ok, err := failover.TakeResume(p.cfg.StateDir, epoch, time.Now(), hold-p.cfg.DeadAfter)
	switch {
	case err != nil:
		p.log.Warn("not resuming as primary", "err", err)
	case ok:
		p.log.Info("resuming as primary: the last process restarted keeping the role", "epoch", r.Epoch, "stopped", r.At)
	}
	return ok
}

// KeepRoleOnStop makes the next stop a restart that keeps the role (an
// upgrade, `systemctl restart`): a primary leaves the VIP, the database
// and the PBX where they are and tells its peer it is restarting; the next
// process resumes as primary. Without it a stopping primary hands over.
func (p *Pair) KeepRoleOnStop() {
	p.keepRole.Store(true)
	p.node.KeepRoleOnStop()
}
