package act

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/clock"
)

// rejoin makes the released node's stopped database a standby of the new
// primary in the background, one rejoin at a time: the release only stops
// the database, and the demote command runs after it while the peer
// already takes over.
type rejoin struct {
	db    Database
	node  string
	clock clock.Clock
	log   *slog.Logger
	emit  func(event.Event) // may be nil
	// onFailed, when set, is called after a failed rejoin: a standby
	// rebuild (database.rebuild_on_rewind_failure).
	onFailed func(error)
	advice   string // what the operator does when onFailed is nil

	mu   sync.Mutex
	done chan struct{} // closed when the running rejoin ends; nil when none ran yet
}

// start runs db.Rejoin in the background after a release stopped the
// database. It must not be called while a rejoin runs (the caller waits
// first). A failure is logged and raised as db_rejoin_failed; the database
// is then left as the demote command left it (stopped, for
// configs/pg-demote.sh). The rejoin is bounded by the demote and stop
// timeouts, not by a context: killing pg_rewind half-way would leave the
// data directory unusable.
func (r *rejoin) start(args dbrole.DemoteArgs) {
	stopped := r.clock.Now()
	done := make(chan struct{})
	r.mu.Lock()
	r.done = done
	r.mu.Unlock()
	go func() {
		defer close(done)
		res, err := r.db.Rejoin(context.Background(), args)
		since := r.clock.Now().Sub(stopped)
		if err != nil {
			r.log.Error("database rejoin failed: it stays out of replication until an operator rejoins it",
				"action", "rejoin", "target", r.db.Target(), "took", res.Duration.Round(time.Millisecond), "err", err)
			next := r.advice
			if r.onFailed != nil {
				next = "a standby rebuild starts (database.rebuild_on_rewind_failure)"
			}
			if r.emit != nil {
				r.emit(event.Event{Kind: event.DBRejoinFailed, Severity: event.Critical, Time: r.clock.Now(),
					Summary: fmt.Sprintf("%s: the released database did not rejoin as a standby of %s: %v; %s", r.node, args.PeerHost, err, next),
					Details: map[string]any{"target": r.db.Target(), "peer_host": args.PeerHost, "role": res.After.String(),
						"error": err.Error(), "took_ms": res.Duration.Milliseconds(), "since_stop_ms": since.Milliseconds()}})
			}
			if r.onFailed != nil {
				r.onFailed(err)
			}
			return
		}
		r.log.Info("database rejoined as a standby", "action", "rejoin", "target", r.db.Target(), "role", res.After.String(),
			"took", res.Duration.Round(time.Millisecond), "since_stop", since.Round(time.Millisecond))
	}()
}

// wait returns when no rejoin runs, or with ctx's error when ctx ends
// first. A takeover or a release waits: the rejoin owns the database until
// it ends.
func (r *rejoin) wait(ctx context.Context) error {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	r.log.Info("waiting for the database rejoin to finish", "target", r.db.Target())
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the database rejoin: %w", ctx.Err())
	}
}
