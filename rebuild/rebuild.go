package rebuild

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/clock"
	"github.com/pbxha/pbxha/probe"
)

// ErrRefused marks a rebuild that was not started: nothing was changed.
// It is the control API's, which answers it with 409.
var ErrRefused = control.ErrRefused

// Pair is what a rebuild must know of the pair: this node's role and the
// peer as its heartbeats tell it.
type Pair struct {
	Role       failover.Role
	PeerName   string
	PeerHost   string // the peer's address, for the default primary_conninfo
	PeerAlive  bool
	PeerRole   failover.Role
	PeerHealth probe.Health
}

// Options are what a Rebuilder runs with besides its Config.
type Options struct {
	Pair    func() Pair       // required; must not block long
	OnEvent func(event.Event) // must not block; may be nil
	Clock   clock.Clock       // nil: clock.Real
	Logger  *slog.Logger      // nil: slog.Default()
}

// Rebuilder runs standby rebuilds, one at a time. Its methods may be
// called concurrently.
type Rebuilder struct {
	cfg Config
	opt Options
	log *slog.Logger
	clk clock.Clock
	bin string

	mu      sync.Mutex
	base    context.Context // Run's: a rebuild ends with it
	running bool
	done    chan struct{} // closed when the running rebuild ends
	st      *control.Rebuild
}

// New checks cfg; nothing runs until Start.
func New(cfg Config, opt Options) (*Rebuilder, error) {
	var errs []error
	for _, p := range cfg.Problems() {
		errs = append(errs, fmt.Errorf("rebuild: config: database.%s", p))
	}
	if !cfg.Enabled() {
		errs = append(errs, errors.New("rebuild: config: database.data_dir and start_command are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opt.Pair == nil {
		return nil, errors.New("rebuild: new: no Pair")
	}
	bin, err := cfg.binDir()
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	r := &Rebuilder{cfg: cfg, opt: opt, log: opt.Logger, clk: clock.Or(opt.Clock), bin: bin, base: context.Background()}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "rebuild")
	return r, nil
}

// Run holds the rebuilds' context until ctx is done, then stops a rebuild
// under way (its old data directory is put back) and waits for it. It
// first undoes a rebuild that pbxha's death cut short (Recover).
func (r *Rebuilder) Run(ctx context.Context) {
	r.mu.Lock()
	r.base = ctx
	r.mu.Unlock()
	if err := r.Recover(ctx); err != nil {
		r.log.Error("could not undo the rebuild cut short by the last stop", "err", err)
	}
	<-ctx.Done()
	r.Wait(context.Background())
}

// Wait returns when no rebuild runs, or when ctx ends.
func (r *Rebuilder) Wait(ctx context.Context) {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Status is the last rebuild since start, or nil.
func (r *Rebuilder) Status() *control.Rebuild {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return nil
	}
	st := *r.st
	return &st
}

// Running reports whether a rebuild runs.
func (r *Rebuilder) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// Start checks that a rebuild may run and starts it in the background;
// reason says who asked ("operator", "pg_rewind failed"). It refuses, with
// an error wrapping ErrRefused, on the primary, while this node's database
// is a primary, when the peer is not a live healthy primary, while a
// rebuild runs here, and while the primary serves another base backup
// (pg_stat_progress_basebackup: a rebuild of this node started elsewhere).
func (r *Rebuilder) Start(ctx context.Context, reason string) error {
	p := r.opt.Pair()
	r.mu.Lock()
	if r.running {
		since := r.st.StartedAt
		r.mu.Unlock()
		return fmt.Errorf("rebuild: a rebuild already runs on this node (since %s): %w", since.Format(time.RFC3339), ErrRefused)
	}
	r.mu.Unlock()
	peer := cmp.Or(p.PeerName, "the peer")
	switch {
	case p.Role == failover.RolePrimary:
		return fmt.Errorf("rebuild: this node is the primary: a rebuild would replace the writable database (switch over first): %w", ErrRefused)
	case !p.PeerAlive:
		return fmt.Errorf("rebuild: %s is not heard: a rebuild clones a live primary: %w", peer, ErrRefused)
	case p.PeerRole != failover.RolePrimary:
		return fmt.Errorf("rebuild: %s is %s, not primary: %w", peer, p.PeerRole, ErrRefused)
	case p.PeerHealth != probe.Healthy && p.PeerHealth != probe.HealthDegraded:
		return fmt.Errorf("rebuild: the primary %s is %s, not healthy: %w", peer, p.PeerHealth, ErrRefused)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if primary, err := localIsPrimary(cctx, r.cfg.DSN); err == nil && primary {
		return fmt.Errorf("rebuild: this node's database is a writable primary: %w", ErrRefused)
	}
	conninfo := r.conninfo(p)
	if n, err := runningBaseBackups(cctx, conninfo); err != nil {
		r.log.Warn("could not ask the primary for base backups under way; going on", "target", p.PeerHost, "err", err)
	} else if n > 0 {
		return fmt.Errorf("rebuild: %s already serves %d base backup(s) (a rebuild under way?): %w", peer, n, ErrRefused)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return fmt.Errorf("rebuild: a rebuild already runs on this node: %w", ErrRefused)
	}
	now := r.clk.Now()
	r.running, r.done = true, make(chan struct{})
	r.st = &control.Rebuild{State: "running", Phase: "stopping", Reason: reason, From: peer, StartedAt: now}
	base := r.base
	done := r.done
	go func() {
		defer close(done)
		rctx, cancel := context.WithTimeout(base, cmp.Or(r.cfg.Timeout, DefaultTimeout))
		defer cancel()
		r.run(rctx, p, conninfo, reason)
	}()
	return nil
}

// conninfo is how pg_basebackup reaches the primary.
func (r *Rebuilder) conninfo(p Pair) string {
	if r.cfg.PrimaryConninfo != "" {
		return r.cfg.PrimaryConninfo
	}
	return "host=" + p.PeerHost + " port=5432 user=postgres"
}

// set updates the status under the lock.
func (r *Rebuilder) set(f func(st *control.Rebuild)) {
	r.mu.Lock()
	f(r.st)
	r.mu.Unlock()
}

// run carries a started rebuild out and reports it.
func (r *Rebuilder) run(ctx context.Context, p Pair, conninfo, reason string) {
	start := r.clk.Now()
	peer := cmp.Or(p.PeerName, p.PeerHost)
	r.log.Warn("standby rebuild started", "from", peer, "reason", reason, "data_dir", r.cfg.DataDir)
	r.emit(event.Event{Kind: event.RebuildStarted, Severity: event.Warning,
		Summary: fmt.Sprintf("standby rebuild started: %s cloned anew from %s (%s)", r.cfg.DataDir, peer, reason),
		Details: map[string]any{"from": peer, "reason": reason, "data_dir": r.cfg.DataDir}})
	bytes, err := r.rebuild(ctx, conninfo)
	took := r.clk.Now().Sub(start)
	now := r.clk.Now()
	r.mu.Lock()
	r.running = false
	r.st.FinishedAt = &now
	phase := r.st.Phase
	if err != nil {
		r.st.State, r.st.Error = "failed", err.Error()
	} else {
		r.st.State, r.st.Phase, r.st.Percent, r.st.ETASeconds = "finished", "done", 100, 0
	}
	restored := r.st.KeptAside == ""
	r.mu.Unlock()
	if err != nil {
		r.log.Error("standby rebuild failed", "from", peer, "phase", phase, "err", err, "took", took.Round(time.Millisecond))
		r.emit(event.Event{Kind: event.RebuildFailed, Severity: event.Critical,
			Summary: fmt.Sprintf("standby rebuild from %s failed while %s: %v", peer, phase, err),
			Details: map[string]any{"from": peer, "phase": phase, "error": err.Error(), "restored": restored, "took_ms": took.Milliseconds()}})
		return
	}
	r.log.Info("standby rebuilt: streaming from the primary", "from", peer, "took", took.Round(time.Millisecond), "bytes", bytes)
	r.emit(event.Event{Kind: event.RebuildFinished, Severity: event.Info, Resolved: true,
		Summary: fmt.Sprintf("standby rebuilt from %s in %s: streaming", peer, took.Round(time.Second)),
		Details: map[string]any{"from": peer, "took_ms": took.Milliseconds(), "bytes": bytes}})
}

func (r *Rebuilder) emit(e event.Event) {
	if r.opt.OnEvent != nil {
		r.opt.OnEvent(e)
	}
}

// rebuild stops the old server, keeps its directory aside, clones the
// primary, starts the clone and waits for it to stream; then removes the
// old directory. On an error after the directory went aside it puts the
// old one back (and starts it again if it ran).
func (r *Rebuilder) rebuild(ctx context.Context, conninfo string) (int64, error) {
	dir := filepath.Clean(r.cfg.DataDir)
	owner, err := ownerOf(dir)
	if err != nil {
		return 0, err
	}
	j := journal{DataDir: dir, Started: r.clk.Now(), WasRunning: r.serverRuns(dir)}
	if j.WasRunning {
		if err := r.stop(ctx, dir, owner); err != nil {
			return 0, fmt.Errorf("rebuild: stop the old server: %w", err)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		j.Aside = fmt.Sprintf("%s.pbxha-old-%d", dir, j.Started.Unix())
	}
	// The journal goes first: a directory aside is never left unrecorded.
	if err := j.write(r.cfg.StateDir); err != nil {
		return 0, err
	}
	if j.Aside != "" {
		if err := os.Rename(dir, j.Aside); err != nil {
			_ = removeJournal(r.cfg.StateDir)
			return 0, fmt.Errorf("rebuild: keep %s aside: %w", dir, err)
		}
		r.set(func(st *control.Rebuild) { st.KeptAside = j.Aside })
	}
	bytes, err := r.cloneAndStart(ctx, dir, owner, conninfo, j)
	if err != nil {
		if rerr := r.restore(j, owner); rerr != nil {
			return bytes, fmt.Errorf("%w; and putting the old data directory back failed: %w", err, rerr)
		}
		return bytes, err
	}
	j.Streaming = true
	if err := j.write(r.cfg.StateDir); err != nil {
		r.log.Warn("rebuild journal", "err", err)
	}
	if j.Aside != "" {
		if err := os.RemoveAll(j.Aside); err != nil {
			r.log.Warn("could not remove the old data directory", "target", j.Aside, "err", err)
		}
	}
	r.set(func(st *control.Rebuild) { st.KeptAside = "" })
	if err := removeJournal(r.cfg.StateDir); err != nil {
		r.log.Warn("rebuild journal", "err", err)
	}
	return bytes, nil
}

// cloneAndStart runs pg_basebackup into dir, keeps the old directory's
// own configuration files, starts the server and waits until it streams.
func (r *Rebuilder) cloneAndStart(ctx context.Context, dir string, owner *syscall.Credential, conninfo string, j journal) (int64, error) {
	r.set(func(st *control.Rebuild) { st.Phase = "cloning" })
	bytes, err := r.clone(ctx, dir, owner, conninfo)
	if err != nil {
		return bytes, err
	}
	if j.Aside != "" {
		for _, name := range KeptConfig {
			if err := copyKept(filepath.Join(j.Aside, name), filepath.Join(dir, name)); err != nil {
				return bytes, fmt.Errorf("rebuild: keep %s: %w", name, err)
			}
		}
	}
	r.set(func(st *control.Rebuild) { st.Phase = "starting" })
	if err := r.start(ctx, "rebuild"); err != nil {
		return bytes, fmt.Errorf("rebuild: start the new standby: %w", err)
	}
	r.set(func(st *control.Rebuild) { st.Phase = "streaming" })
	if err := waitStreaming(ctx, r.cfg.DSN, cmp.Or(r.cfg.StartTimeout, DefaultStartTimeout)+streamWait); err != nil {
		return bytes, fmt.Errorf("rebuild: the new standby: %w", err)
	}
	return bytes, nil
}

// clone runs pg_basebackup, following its progress.
func (r *Rebuilder) clone(ctx context.Context, dir string, owner *syscall.Credential, conninfo string) (int64, error) {
	args := []string{"-D", dir, "-d", conninfo, "-X", "stream", "-R", "-P", "-c", "fast", "-w"}
	if r.cfg.MaxRate > 0 {
		args = append(args, "-r", strconv.Itoa(r.cfg.MaxRate)+"k")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, "pg_basebackup"), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	// A pipe of our own, not StderrPipe: Wait would close it before the
	// last lines (the error) are read.
	stderr, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("rebuild: pg_basebackup: %w", err)
	}
	defer stderr.Close()
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("rebuild: pg_basebackup: %w", err)
	}
	started := r.clk.Now()
	var done atomic.Int64
	scanned := make(chan []string, 1)
	go func() {
		scanned <- scanProgress(stderr, func(p Progress) {
			done.Store(p.DoneKB * 1024)
			elapsed := r.clk.Now().Sub(started).Seconds()
			r.set(func(st *control.Rebuild) {
				st.DoneBytes, st.TotalBytes = p.DoneKB*1024, p.TotalKB*1024
				if p.TotalKB > 0 {
					st.Percent = min(100, 100*float64(p.DoneKB)/float64(p.TotalKB))
				}
				if elapsed > 0 {
					st.RateBps = float64(st.DoneBytes) / elapsed
				}
				if st.RateBps > 0 && st.TotalBytes > st.DoneBytes {
					st.ETASeconds = float64(st.TotalBytes-st.DoneBytes) / st.RateBps
				} else {
					st.ETASeconds = 0
				}
			})
		})
		_, _ = io.Copy(io.Discard, stderr)
	}()
	err = cmd.Wait()
	// pg_basebackup streams WAL from a child process of its own group,
	// which outlives a killed parent and holds stderr open.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	other := <-scanned
	if err != nil {
		if ctx.Err() != nil {
			return done.Load(), fmt.Errorf("rebuild: pg_basebackup stopped: %w", context.Cause(ctx))
		}
		return done.Load(), fmt.Errorf("rebuild: pg_basebackup from %q: %w: %s", redact(conninfo), err, strings.Join(other, "; "))
	}
	return done.Load(), nil
}

// redact drops a password from a conninfo for messages.
func redact(conninfo string) string {
	f := strings.Fields(conninfo)
	for i, kv := range f {
		if strings.HasPrefix(kv, "password=") {
			f[i] = "password=…"
		}
	}
	return strings.Join(f, " ")
}

// restore puts the old data directory back after a failed rebuild: the
// new server stopped if it runs, the new directory removed, the old one
// renamed back and started again if it ran.
func (r *Rebuilder) restore(j journal, owner *syscall.Credential) error {
	r.set(func(st *control.Rebuild) { st.Phase = "restoring" })
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(r.cfg.StopTimeout, DefaultStopTimeout)+cmp.Or(r.cfg.StartTimeout, DefaultStartTimeout)+time.Minute)
	defer cancel()
	if r.serverRuns(j.DataDir) {
		if err := r.pgCtlStop(ctx, j.DataDir, owner, "immediate"); err != nil {
			return fmt.Errorf("stop the new server: %w", err)
		}
	}
	if j.Aside != "" {
		if _, err := os.Stat(j.Aside); err != nil {
			return fmt.Errorf("the old data directory %s: %w", j.Aside, err)
		}
	}
	if err := os.RemoveAll(j.DataDir); err != nil {
		return fmt.Errorf("remove the new data directory: %w", err)
	}
	if j.Aside != "" {
		if err := os.Rename(j.Aside, j.DataDir); err != nil {
			return fmt.Errorf("put %s back: %w", j.Aside, err)
		}
	}
	r.set(func(st *control.Rebuild) { st.KeptAside = "" })
	if err := removeJournal(r.cfg.StateDir); err != nil {
		return err
	}
	r.log.Warn("old data directory put back", "target", j.DataDir)
	if j.WasRunning && j.Aside != "" {
		if err := r.start(ctx, "restore"); err != nil {
			return fmt.Errorf("start the old server again: %w", err)
		}
	}
	return nil
}

// Recover undoes a rebuild that pbxha's death cut short, from its
// journal: the old data directory is put back (or, if the new standby
// already streamed, only the old one removed). It does nothing without a
// journal.
func (r *Rebuilder) Recover(ctx context.Context) error {
	j, ok, err := readJournal(r.cfg.StateDir)
	if err != nil || !ok {
		return err
	}
	if j.Streaming {
		if j.Aside != "" {
			if err := os.RemoveAll(j.Aside); err != nil {
				return fmt.Errorf("rebuild: remove %s: %w", j.Aside, err)
			}
		}
		return removeJournal(r.cfg.StateDir)
	}
	r.log.Warn("a standby rebuild was cut short by the last stop of pbxha; putting the old data directory back", "target", j.DataDir, "aside", j.Aside)
	owner, err := ownerOf(j.DataDir)
	if err != nil {
		return err
	}
	now := r.clk.Now()
	r.mu.Lock()
	r.st = &control.Rebuild{State: "running", Phase: "restoring", Reason: "cut short by a stop of pbxha", StartedAt: j.Started, KeptAside: j.Aside}
	r.mu.Unlock()
	err = r.restore(j, owner)
	r.mu.Lock()
	r.st.State, r.st.FinishedAt, r.st.Error = "failed", &now, "cut short by a stop of pbxha"
	r.mu.Unlock()
	restored := err == nil
	r.emit(event.Event{Kind: event.RebuildFailed, Severity: event.Critical,
		Summary: fmt.Sprintf("standby rebuild cut short by a stop of pbxha; old data directory put back: %v", restored),
		Details: map[string]any{"phase": "interrupted", "error": "cut short by a stop of pbxha", "restored": restored}})
	if err != nil {
		return fmt.Errorf("rebuild: recover: %w", err)
	}
	return nil
}
