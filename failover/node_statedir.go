package failover

import (
	"fmt"
	"time"

	"github.com/pbxha/pbxha/event"
)

// The state directory holds the epoch, which a takeover must persist before
// it acts. The node checks the directory in the background and reports a
// failed check or a failed epoch write as one episode: one critical
// state_dir_unwritable event, the error in Status, resolved when a write
// works again.
const (
	stateDirCheckEvery   = 30 * time.Second // between background checks while the directory is fine
	stateDirRecheckEvery = 5 * time.Second  // while it is not
	stateDirCheckStuck   = 10 * time.Second // a check that has not returned by then counts as failed (a hung disk)
)

// stateDirLoop is the decision loop's view of the state directory. Only the
// loop goroutine touches it; the check goroutine answers on result.
type stateDirLoop struct {
	nextCheck   time.Time  // when the next background check is due
	checking    time.Time  // when the check under way started; zero when none
	result      chan error // the check under way's outcome; capacity 1
	epochFailed time.Time  // the last failed epoch write
	open        bool       // an episode is open (its error is in n.st.StateDirError)
}

// stateDirTick takes the outcome of a finished background check and starts
// the next one when it falls due. It never waits on the disk.
func (n *Node) stateDirTick(now time.Time) {
	sd := &n.loopPrivate.sd
	if sd.result == nil {
		sd.result = make(chan error, 1)
	}
	if !sd.checking.IsZero() {
		select {
		case err := <-sd.result:
			sd.checking = time.Time{}
			switch {
			case err != nil:
				n.stateDirFailed(now, err, 0)
			case now.Sub(sd.epochFailed) < 2*stateDirRecheckEvery:
				// The directory takes a test write, but the epoch write
				// failed lately: only a good epoch write ends this episode.
			default:
				n.stateDirWorked(now)
			}
		default:
			if now.Sub(sd.checking) >= stateDirCheckStuck {
				n.stateDirFailed(now, fmt.Errorf("failover: state dir %s: a write test has not returned for %s (a hung disk?)",
					n.cfg.StateDir, now.Sub(sd.checking).Round(time.Second)), 0)
			}
			return
		}
	}
	if now.Before(sd.nextCheck) {
		return
	}
	every := stateDirCheckEvery
	if sd.open {
		every = stateDirRecheckEvery
	}
	sd.nextCheck, sd.checking = now.Add(every), now
	dir, result := n.cfg.StateDir, sd.result
	n.jobs.Go(func() {
		result <- CheckStateDir(dir)
		n.Poke()
	})
}

// stateDirFailed opens an episode, or keeps the open one: the event and an
// ERROR line only when it opens. epoch is the epoch a write failed for, 0
// for a failed check.
func (n *Node) stateDirFailed(now time.Time, err error, epoch uint64) {
	sd := &n.loopPrivate.sd
	if epoch != 0 {
		sd.epochFailed = now
	}
	n.mu.Lock()
	n.st.StateDirError = err.Error()
	if !sd.open {
		n.st.StateDirSince = now
	}
	n.mu.Unlock()
	if sd.open {
		n.log.Debug("state dir still unwritable", "epoch", epoch, "err", err)
		return
	}
	sd.open = true
	sd.nextCheck = now.Add(stateDirRecheckEvery)
	details := map[string]any{"path": n.cfg.StateDir, "error": err.Error()}
	what := "a takeover could not persist its epoch"
	if epoch != 0 {
		details["epoch"] = epoch
		what = fmt.Sprintf("taking over at epoch %d is blocked until the epoch can be written", epoch)
	}
	n.log.Error("state dir unwritable: a takeover cannot persist its epoch", "epoch", epoch, "err", err)
	n.emit(event.Event{Kind: event.StateDirUnwritable, Severity: event.Critical, Time: now,
		Summary: fmt.Sprintf("%s: state_dir %s is unwritable; %s: %v", n.cfg.Node, n.cfg.StateDir, what, err),
		Details: details})
}

// stateDirWorked ends the open episode, if any: a write worked again.
func (n *Node) stateDirWorked(now time.Time) {
	sd := &n.loopPrivate.sd
	if !sd.open {
		return
	}
	sd.open = false
	sd.nextCheck = now.Add(stateDirCheckEvery)
	n.mu.Lock()
	errText, since := n.st.StateDirError, n.st.StateDirSince
	n.st.StateDirError, n.st.StateDirSince = "", time.Time{}
	n.mu.Unlock()
	n.log.Info("state dir writable again", "unwritable_for", now.Sub(since).Round(time.Millisecond))
	n.emit(event.Event{Kind: event.StateDirUnwritable, Severity: event.Info, Time: now, Resolved: true,
		Summary: fmt.Sprintf("%s: state_dir %s is writable again", n.cfg.Node, n.cfg.StateDir),
		Details: map[string]any{"path": n.cfg.StateDir, "error": errText}})
}
