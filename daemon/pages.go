package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/exepages"
)

// pagesAfter is how long after start, and after a role change, the daemon
// gives back the pages of its executable touched since (package exepages):
// by then the probes, the peer and the decisions have run again, and what
// they keep using comes back. A takeover or a release runs code (the
// database driver, netlink, the hooks) that the node does not run at rest.
const pagesAfter = 10 * time.Second

// pageReleaser gives back the executable's pages pagesAfter after start and
// after each role change (an event sink).
type pageReleaser struct {
	poke  chan struct{}
	after time.Duration
}

func newPageReleaser() pageReleaser {
	return pageReleaser{poke: make(chan struct{}, 1), after: pagesAfter}
}

// Publish restarts the wait on a role change.
func (p *pageReleaser) Publish(e event.Event) {
	if e.Kind == event.RoleChange {
		select {
		case p.poke <- struct{}{}:
		default:
		}
	}
}

// run releases the pages p.after after start and after the last role
// change, until ctx is done.
func (p *pageReleaser) run(ctx context.Context, logger *slog.Logger) {
	t := time.NewTimer(p.after)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.poke:
			t.Reset(p.after)
		case <-t.C:
			pages, err := exepages.Find()
			if err != nil {
				logger.Warn("could not give back the executable's pages", "err", err)
				continue
			}
			// Logged before, not after: the log's code and data are not
			// used at rest, and a line after the release faulted them back.
			logger.Debug("giving back the executable's pages", "resident_kib", pages.KiB)
			if err := pages.Release(); err != nil {
				logger.Warn("could not give back the executable's pages", "err", err)
			}
		}
	}
}
