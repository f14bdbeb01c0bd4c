package filesync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/clock"
)

// Options are what a Syncer runs with besides its Config.
type Options struct {
	// Roles reads the pair (required). It must not block long.
	Roles func() Roles
	// CheckCommand is the daemon's pre-xfer check of a source, completed
	// with --marker NAME and --require-mount per directory: `pbxha sync
	// check-source`, which runs CheckSource on $RSYNC_MODULE_PATH. Nil: no
	// check on the serving side (tests of the check's absence only).
	CheckCommand []string
	// Command makes the rsync commands (nil: on this host).
	Command Commander
	// ListenPacket opens the change-notice socket (nil: net.ListenPacket).
	ListenPacket func(network, addr string) (net.PacketConn, error)
	OnEvent      func(event.Event) // must not block; may be nil
	Clock        clock.Clock       // nil: clock.Real
	Logger       *slog.Logger      // nil: slog.Default()
}

// Syncer keeps the configured directories in step with the peer: it runs
// the rsync daemon that serves them, pulls them while standby, watches them
// while primary and tells the standby when they change. Its methods may be
// called concurrently with Run.
type Syncer struct {
	cfg            Config
	opt            Options
	log            *slog.Logger
	clock          clock.Clock
	user, password string
	wake           chan struct{}
	conn           net.PacketConn // the change-notice socket, opened by Run

	mu          sync.Mutex
	direction   Direction
	reason      string
	peer        string
	pullingFrom time.Time // when the node began pulling (the age of a never-synced copy)
	dirs        []*dirState
}

// dirState is one directory's pulls.
type dirState struct {
	Dir
	due      time.Time          // next pull; zero: at once
	cancel   context.CancelFunc // the pull under way; nil when none
	poked    bool               // a change notice arrived during a pull: pull again after it
	st       control.SyncDir
	lagging  bool
	refused  bool
	lastDone time.Time
}

// New checks cfg and reads the secrets file; nothing runs until Run.
func New(cfg Config, opt Options) (*Syncer, error) {
	if err := problemsErr(cfg.Problems()); err != nil {
		return nil, err
	}
	if opt.Roles == nil {
		return nil, errors.New("filesync: new: no Roles")
	}
	user, password, err := ReadSecrets(cfg.SecretsFile)
	if err != nil {
		return nil, err
	}
	if opt.Command == nil {
		opt.Command = localCommand
	}
	if opt.ListenPacket == nil {
		opt.ListenPacket = net.ListenPacket
	}
	if cfg.LagAlert <= 0 {
		cfg.LagAlert = DefaultLagAlert
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = DefaultIOTimeout
	}
	s := &Syncer{cfg: cfg, opt: opt, log: opt.Logger, clock: clock.Or(opt.Clock), user: user, password: password,
		wake: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "filesync")
	for _, d := range cfg.Dirs {
		s.dirs = append(s.dirs, &dirState{Dir: d, st: control.SyncDir{Name: d.Name, Source: d.Source, Destination: d.dest(), State: "idle"}})
	}
	return s, nil
}

func problemsErr(ps []Problem) error {
	var errs []error
	for _, p := range ps {
		errs = append(errs, fmt.Errorf("filesync: config: sync.%s", p))
	}
	return errors.Join(errs...)
}

// Run serves, pulls and watches until ctx is done, then stops the pulls
// under way (rsync keeps their partial files) and the daemon.
func (s *Syncer) Run(ctx context.Context) error {
	conn, err := s.opt.ListenPacket("udp", s.cfg.Listen.String())
	if err != nil {
		return fmt.Errorf("filesync: listen %s (change notices): %w", s.cfg.Listen, err)
	}
	s.conn = conn
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { <-ctx.Done(); conn.Close() })
	wg.Go(func() { s.receive(conn) })
	wg.Go(func() { s.serve(ctx) })
	s.loop(ctx)
	cancel()
	wg.Wait()
	return nil
}

// serve runs the rsync daemon, restarting it 2 s after it exits, until ctx
// is done.
func (s *Syncer) serve(ctx context.Context) {
	conf := filepath.Join(s.cfg.StateDir, "rsyncd.conf")
	if err := os.MkdirAll(s.cfg.StateDir, 0o750); err != nil {
		s.log.Error("cannot write the rsync daemon's config; not serving", "err", err)
		return
	}
	if err := os.WriteFile(conf, []byte(daemonConfig(s.cfg, s.user, s.opt.CheckCommand)), 0o600); err != nil {
		s.log.Error("cannot write the rsync daemon's config; not serving", "err", err)
		return
	}
	for ctx.Err() == nil {
		start := s.clock.Now()
		err := s.runDaemon(ctx, conf)
		if ctx.Err() != nil {
			return
		}
		s.log.Error("rsync daemon exited; restarting it", "target", s.cfg.Listen.String(), "err", err,
			"ran", s.clock.Now().Sub(start).Round(time.Millisecond))
		t := s.clock.NewTimer(2 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// runDaemon runs rsync --daemon in the foreground, its log lines going to
// the debug log, until it exits or ctx is done.
func (s *Syncer) runDaemon(ctx context.Context, conf string) error {
	cmd := s.opt.Command(ctx, "rsync", "--daemon", "--no-detach", "--config="+conf, "--log-file=/dev/stderr")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// SIGTERM at the stop, and should pbxha die: the daemon must not
	// outlive it, holding the port.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("%w: %w", errDaemon, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: start: %w", errDaemon, err)
	}
	s.log.Info("rsync daemon serving", "target", s.cfg.Listen.String(), "pid", cmd.Process.Pid, "directories", len(s.cfg.Dirs))
	sc := bufio.NewScanner(stderr)
	var last string
	for sc.Scan() {
		last = sc.Text()
		s.log.Debug("rsync daemon", "line", last)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%w: %w (last line: %s)", errDaemon, err, last)
	}
	return fmt.Errorf("%w: exited (last line: %s)", errDaemon, last)
}

// receive reads change notices until conn is closed: a valid one from the
// peer's address marks its directory due at once.
func (s *Syncer) receive(conn net.PacketConn) {
	buf := make([]byte, 2*noticeMax)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok || ua.AddrPort().Addr().Unmap() != s.cfg.Peer.Addr().Unmap() {
			s.log.Debug("change notice dropped", "reason", "foreign", "from", from.String())
			continue
		}
		name, _, err := decodeNotice(s.cfg.Key, buf[:n], s.clock.Now())
		if err != nil {
			s.log.Debug("change notice dropped", "err", err)
			continue
		}
		s.mu.Lock()
		for _, d := range s.dirs {
			if d.Name == name {
				d.due = time.Time{}
				d.poked = true
			}
		}
		s.mu.Unlock()
		s.poke()
	}
}

// notify tells the peer that dir changed.
func (s *Syncer) notify(dir string) {
	if s.conn == nil {
		return
	}
	b := encodeNotice(s.cfg.Key, dir, s.clock.Now())
	if _, err := s.conn.WriteTo(b, net.UDPAddrFromAddrPort(s.cfg.Peer)); err != nil {
		s.log.Debug("change notice not sent", "dir", dir, "err", err)
	}
}

// Poke asks for a decision now: the daemon calls it on every role change
// and maintenance switch, so that a node that takes over stops pulling at
// once.
func (s *Syncer) Poke() { s.poke() }

// poke wakes the loop.
func (s *Syncer) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop decides every second, and at once when woken: the direction from
// the roles, the pulls that are due, the watcher while serving, the lag.
func (s *Syncer) loop(ctx context.Context) {
	var w *watcher
	defer func() {
		if w != nil {
			w.close()
		}
		s.stopPulls()
	}()
	tick := s.clock.NewTimer(0)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		case <-s.wake:
		}
		tick.Reset(time.Second)
		r := s.opt.Roles()
		dir, reason := Plan(r)
		now := s.clock.Now()
		s.mu.Lock()
		if dir != s.direction || reason != s.reason {
			s.log.Info("file sync direction", "direction", dir.String(), "reason", reason)
		}
		if dir == Pull && s.direction != Pull {
			s.pullingFrom = now
		}
		s.direction, s.reason, s.peer = dir, reason, r.PeerName
		s.mu.Unlock()
		if dir != Pull {
			s.stopPulls()
		}
		switch {
		case dir == Serve && w == nil:
			w = s.watch(ctx)
		case dir != Serve && w != nil:
			w.close()
			w = nil
		}
		if dir == Pull {
			s.startDue(ctx, now)
		}
		s.checkLag(dir, now)
	}
}

// stopPulls cancels every pull under way; they end with SIGTERM, which
// keeps the partial files.
func (s *Syncer) stopPulls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dirs {
		if d.cancel != nil {
			d.cancel()
		}
	}
}

// startDue starts the pulls that are due and not running.
func (s *Syncer) startDue(ctx context.Context, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dirs {
		if d.cancel != nil || now.Before(d.due) {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		d.cancel, d.poked = cancel, false
		d.st.State = "syncing"
		go func() {
			res := s.pull(pctx, d.Dir)
			cancel()
			s.finish(d, res)
			s.poke()
		}()
	}
}

// result is the outcome of one pull.
type result struct {
	start, end time.Time
	transfer   Stats
	deleted    int64
	err        error
}

// pull runs one pull of d: the transfer pass, and only when it completed,
// the deletion pass. Both are checked on the source by the daemon.
func (s *Syncer) pull(ctx context.Context, d Dir) (res result) {
	res.start = s.clock.Now()
	defer func() { res.end = s.clock.Now() }()
	if err := checkDir(d.dest(), d.RequireMount); err != nil {
		res.err = fmt.Errorf("destination: %w", err)
		return res
	}
	url := moduleURL(s.user, s.cfg.Peer, d.Name)
	st, err := runRsync(ctx, s.opt.Command, s.password, pullArgs(d, url, transferPass, s.cfg.IOTimeout), s.cfg.IOTimeout)
	res.transfer = st
	if err != nil {
		res.err = fmt.Errorf("filesync: pull %s from %s: %w", d.Name, s.cfg.Peer, err)
		return res
	}
	// The role may have changed during the transfer: a node that no longer
	// pulls must not delete what it may now serve.
	if dir, why := Plan(s.opt.Roles()); dir != Pull {
		res.err = fmt.Errorf("filesync: pull %s from %s: deletions not propagated: %s: %w", d.Name, s.cfg.Peer, why, context.Canceled)
		return res
	}
	del, err := runRsync(ctx, s.opt.Command, s.password, pullArgs(d, url, deletePass, s.cfg.IOTimeout), s.cfg.IOTimeout)
	res.deleted = del.Deleted
	res.transfer.BytesReceived += del.BytesReceived
	if err != nil {
		res.err = fmt.Errorf("filesync: pull %s from %s: deletions not propagated: %w", d.Name, s.cfg.Peer, err)
	}
	return res
}

// finish records a pull's outcome, logs it and raises or resolves
// sync_refused.
func (s *Syncer) finish(d *dirState, res result) {
	s.mu.Lock()
	peer := s.peer
	d.cancel = nil
	st := &d.st
	st.Runs++
	took := res.end.Sub(res.start)
	retry := min(d.interval(), retryAfter)
	var ev *event.Event
	switch {
	case res.err == nil:
		t := res.start
		st.State, st.LastSuccess, d.lastDone = "ok", &t, res.start
		st.LastFiles, st.LastDeleted, st.LastBytes = res.transfer.Files, res.deleted, res.transfer.BytesReceived
		st.LastDurationMS = float64(took.Microseconds()) / 1000
		st.RateBps = 0
		if took > 0 {
			st.RateBps = float64(res.transfer.BytesReceived) / took.Seconds()
		}
		st.TotalFiles += res.transfer.Files
		st.TotalDeleted += res.deleted
		st.TotalBytes += res.transfer.BytesReceived
		d.due = res.start.Add(d.interval())
		if d.refused {
			d.refused = false
			ev = &event.Event{Kind: event.SyncRefused, Severity: event.Info, Resolved: true,
				Summary: fmt.Sprintf("file sync of %s from %s works again", d.Name, peer),
				Details: map[string]any{"dir": d.Name, "peer": peer}}
		}
	case errors.Is(res.err, context.Canceled):
		st.State = "idle" // stopped: the role changed, or pbxha stops
	default:
		t := res.end
		st.Failures++
		st.State, st.LastError, st.LastErrorAt = "failed", res.err.Error(), &t
		d.due = res.end.Add(retry)
		if errors.Is(res.err, ErrRefused) {
			st.State = "refused"
			if !d.refused {
				d.refused = true
				ev = &event.Event{Kind: event.SyncRefused, Severity: event.Critical,
					Summary: fmt.Sprintf("file sync of %s refused: nothing copied or deleted: %v", d.Name, res.err),
					Details: map[string]any{"dir": d.Name, "peer": peer, "error": res.err.Error()}}
			}
		}
	}
	if d.poked {
		d.due = time.Time{}
	}
	s.mu.Unlock()
	switch {
	case res.err == nil:
		s.log.Info("directory synced", "dir", d.Name, "peer", peer, "files", res.transfer.Files, "deleted", res.deleted,
			"bytes", res.transfer.BytesReceived, "took", took.Round(time.Millisecond))
	case errors.Is(res.err, context.Canceled):
		s.log.Info("pull stopped", "dir", d.Name, "took", took.Round(time.Millisecond))
	default:
		s.log.Error("pull failed", "dir", d.Name, "peer", peer, "err", res.err, "retry_in", retry)
	}
	if ev != nil {
		s.emit(*ev)
	}
}

// checkLag raises sync_lagging for a pulled directory whose copy is older
// than LagAlert, and resolves it once a pull caught up or the node stopped
// pulling.
func (s *Syncer) checkLag(dir Direction, now time.Time) {
	var evs []event.Event
	s.mu.Lock()
	for _, d := range s.dirs {
		// A copy older than the time pulling began (this node was primary,
		// or isolated) gets lag_alert from then to catch up, so that a
		// switchover does not raise the alert before the first pull.
		since := d.lastDone
		if since.Before(s.pullingFrom) {
			since = s.pullingFrom
		}
		age := now.Sub(since)
		lag := dir == Pull && age > s.cfg.LagAlert
		if lag == d.lagging {
			continue
		}
		d.lagging = lag
		d.st.Lagging = lag
		e := event.Event{Kind: event.SyncLagging, Severity: event.Warning, Resolved: !lag,
			Details: map[string]any{"dir": d.Name, "peer": s.peer, "age_s": int64(age.Seconds()), "lag_alert_s": int64(s.cfg.LagAlert.Seconds())}}
		switch {
		case lag:
			e.Summary = fmt.Sprintf("file sync of %s lags: the copy is %s old (sync.lag_alert %s)", d.Name, age.Round(time.Second), s.cfg.LagAlert)
			if d.st.LastError != "" {
				e.Details["error"] = d.st.LastError
			}
		case dir == Pull:
			e.Summary = fmt.Sprintf("file sync of %s caught up", d.Name)
		default:
			e.Summary = fmt.Sprintf("file sync of %s no longer pulls (%s)", d.Name, dir)
		}
		evs = append(evs, e)
	}
	s.mu.Unlock()
	for _, e := range evs {
		if e.Resolved {
			s.log.Info("file sync caught up", "dir", e.Details["dir"])
		} else {
			s.log.Warn("file sync lags", "dir", e.Details["dir"], "age_s", e.Details["age_s"])
		}
		s.emit(e)
	}
}

func (s *Syncer) emit(e event.Event) {
	if s.opt.OnEvent != nil {
		s.opt.OnEvent(e)
	}
}

// Status reports the direction and each directory for the control API.
func (s *Syncer) Status() control.Sync {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := control.Sync{Direction: s.direction.String(), Reason: s.reason, Peer: s.cfg.Peer.String()}
	for _, d := range s.dirs {
		st := d.st
		if st.LastSuccess != nil {
			st.AgeSeconds = now.Sub(*st.LastSuccess).Seconds()
		}
		out.Directories = append(out.Directories, st)
	}
	return out
}

// LastSynced returns when the oldest directory was last synced complete:
// the files on this node hold at least what the primary had then. It is
// zero when some directory never was.
func (s *Syncer) LastSynced() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest time.Time
	for _, d := range s.dirs {
		if d.lastDone.IsZero() {
			return time.Time{}
		}
		if oldest.IsZero() || d.lastDone.Before(oldest) {
			oldest = d.lastDone
		}
	}
	return oldest
}
