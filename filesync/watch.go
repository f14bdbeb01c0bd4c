package filesync

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watcher watches the sources of the directories with Watch set, each
// tree whole (a new subdirectory is added as it appears), and calls the
// syncer's notify for a directory once its changes settled.
type watcher struct {
	w      *fsnotify.Watcher
	cancel context.CancelFunc
	done   chan struct{}
}

// watch starts watching, or returns nil (logged) when no directory asks
// for it or the watcher cannot start: pulls then come at their interval.
func (s *Syncer) watch(ctx context.Context) *watcher {
	var roots []Dir
	for _, d := range s.cfg.Dirs {
		if d.Watch {
			roots = append(roots, d)
		}
	}
	if len(roots) == 0 {
		return nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch the sources; the standby pulls at its interval", "err", err)
		return nil
	}
	for _, d := range roots {
		if err := addTree(fw, d.Source); err != nil {
			s.log.Warn("cannot watch a whole source; the standby pulls it at its interval", "dir", d.Name, "err", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{w: fw, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		s.watchLoop(ctx, fw, roots)
	}()
	return w
}

// close stops the watcher and waits for it.
func (w *watcher) close() {
	w.cancel()
	<-w.done
	w.w.Close()
}

// addTree watches dir and every directory below it, skipping rsync's
// partial directory.
func addTree(fw *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			return nil
		}
		if e.Name() == PartialDir {
			return filepath.SkipDir
		}
		return fw.Add(p)
	})
}

// watchLoop turns file events into change notices: a directory's notice
// goes out once no event came for it within settle.
func (s *Syncer) watchLoop(ctx context.Context, fw *fsnotify.Watcher, roots []Dir) {
	dirty := map[string]time.Time{} // directory name -> last event
	tick := s.clock.NewTimer(settle)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-fw.Errors:
			if !ok {
				return
			}
			s.log.Warn("watching the sources", "err", err)
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			for _, d := range roots {
				root := filepath.Clean(d.Source)
				if ev.Name != root && !strings.HasPrefix(ev.Name, root+string(filepath.Separator)) {
					continue
				}
				if ev.Has(fsnotify.Create) {
					_ = addTree(fw, ev.Name) // a new directory: watch it too (a file is skipped)
				}
				dirty[d.Name] = s.clock.Now()
			}
		case <-tick.C():
			tick.Reset(settle / 2)
			now := s.clock.Now()
			for name, at := range dirty {
				if now.Sub(at) >= settle {
					delete(dirty, name)
					s.notify(name)
				}
			}
		}
	}
}
