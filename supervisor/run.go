package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Run supervises the PBX until ctx ends. It adopts a PBX that already runs
// (see the modes), otherwise starts one, and then restarts it as the
// policy says. When ctx ends it returns nil and leaves the PBX running,
// unless Config.StopOnExit is set. It must be called once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	select {
	case <-s.ran:
		s.mu.Unlock()
		return errors.New("supervisor: run: already running")
	default:
		close(s.ran)
	}
	s.mu.Unlock()

	if s.be == nil {
		s.set(func() { s.state = StateUnmanaged })
		for {
			select {
			case <-ctx.Done():
				return nil
			case r := <-s.reqs:
				r.reply <- fmt.Errorf("supervisor: %s: mode none manages no process", r.op)
			case <-s.wake:
			}
		}
	}
	if s.cfg.StateDir != "" && (s.cfg.Mode == ModeExec || s.cfg.Mode == ModePIDFile) {
		fctx, cancel := context.WithCancel(ctx)
		followDone := make(chan struct{})
		go func() { defer close(followDone); s.follow(fctx) }()
		defer func() { cancel(); <-followDone }()
	}
	defer s.leave()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		wait := s.step(ctx)
		if wait == 0 {
			continue
		}
		var tc <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		var done <-chan struct{}
		if s.proc != nil {
			done = s.proc.done
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			s.onExit()
		case <-tc:
		case <-s.wake:
		case r := <-s.reqs:
			r.reply <- s.handle(ctx, r.op)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// leave runs when Run returns: stop the PBX if told to, else let it be.
func (s *Supervisor) leave() {
	p := s.proc
	if p == nil {
		return
	}
	if !s.cfg.StopOnExit {
		s.log.Info("pbxha stops; the pbx keeps running", "pid", p.pid)
		p.release()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StopTimeout+10*time.Second)
	defer cancel()
	if err := s.be.stop(ctx, p); err != nil {
		s.log.Error("cannot stop the pbx on exit", "pid", p.pid, "err", err)
		p.release()
		return
	}
	s.set(func() { s.proc, s.state, s.lastExit = nil, StateStopped, p.exit })
	s.emit(Event{Kind: EventStopped, Time: time.Now(), PID: p.pid, Reason: "pbxha stops (stop_on_exit)", Exit: p.exit})
}

// step looks at the world once and takes at most one action. It returns
// how long to wait before looking again: 0 at once, <0 until something
// happens.
func (s *Supervisor) step(ctx context.Context) time.Duration {
	now := time.Now()
	s.mu.Lock()
	failed, failedSince, maint := s.failed, s.failedSince, s.maintenance
	first := !s.everLooked
	s.everLooked = true
	s.mu.Unlock()

	if first {
		p, err := s.be.find(ctx)
		if err != nil {
			s.log.Warn("cannot look for a running pbx", "err", err)
		}
		if p != nil {
			s.log.Info("adopted the running pbx", "pid", p.pid)
			s.set(func() { s.proc, s.state = p, StateRunning })
			return 0
		}
		if maint || s.held {
			s.set(func() { s.state = StateStopped })
			return -1
		}
		s.startNow(ctx, EventStarted, "first start", false)
		return 0
	}

	if p := s.proc; p != nil {
		s.set(func() { s.state, s.nextAt, s.fault, s.faultWhy = StateRunning, time.Time{}, false, "" })
		if s.cfg.HangGrace <= 0 || !failed || maint || s.held {
			return -1
		}
		since := failedSince
		if p.startedAt.After(since) {
			since = p.startedAt // a new PBX gets its own grace to come up
		}
		if left := since.Add(s.cfg.HangGrace).Sub(now); left > 0 {
			return left
		}
		s.killHung(ctx, p, now.Sub(since))
		return 0
	}

	if s.held || maint {
		s.set(func() { s.state, s.nextAt = StateStopped, time.Time{} })
		return -1
	}
	pl := s.pol.next(s.restarts, s.downAt, now)
	if pl.Fault {
		first := !s.fault
		s.set(func() { s.fault, s.faultWhy, s.state, s.nextAt = true, pl.Reason, StateFault, pl.At })
		if first {
			s.emit(Event{Kind: EventLimitReached, Time: now, Reason: pl.Reason, Exit: s.lastExit})
		}
		return max(pl.At.Sub(now), time.Millisecond)
	}
	if wait := pl.At.Sub(now); wait > 0 {
		s.set(func() { s.state, s.nextAt = StateBackoff, pl.At })
		return wait
	}
	s.set(func() { s.fault, s.faultWhy, s.restarts = false, "", append(s.restarts, now) })
	s.startNow(ctx, EventRestarted, pl.Reason, true)
	return 0
}

// startNow adopts a PBX that runs already, or starts one, and emits kind.
func (s *Supervisor) startNow(ctx context.Context, kind, reason string, counted bool) error {
	s.set(func() { s.state, s.nextAt = StateStarting, time.Time{} })
	p, err := s.be.find(ctx)
	if err != nil {
		s.log.Warn("cannot look for a running pbx", "err", err)
	}
	adopted := p != nil
	if p == nil {
		p, err = s.be.start(ctx)
	}
	now := time.Now()
	if err != nil {
		err = fmt.Errorf("supervisor: start %s: %w", s.be.target(), err)
		s.log.Error("pbx start failed", "err", err, "counted", counted)
		s.set(func() {
			s.lastExit = "start failed: " + err.Error()
			if s.downAt.IsZero() {
				s.downAt = now
			}
			s.state = StateBackoff
		})
		return err
	}
	ev := Event{Kind: kind, Time: now, PID: p.pid, Reason: reason}
	if adopted {
		ev.Reason = reason + "; found a pbx already running, adopted it"
	}
	if kind == EventRestarted && !s.downAt.IsZero() {
		ev.Downtime = now.Sub(s.downAt)
	}
	s.set(func() { s.proc, s.downAt, s.state = p, time.Time{}, StateRunning })
	s.emit(ev)
	return nil
}

// onExit handles the PBX exiting on its own.
func (s *Supervisor) onExit() {
	p, now := s.proc, time.Now()
	s.be.exited(p)
	s.set(func() { s.proc, s.downAt, s.lastExit, s.state = nil, now, p.exit, StateBackoff })
	s.emit(Event{Kind: EventDown, Time: now, PID: p.pid, Reason: "process exited", Exit: p.exit})
}

// killHung stops a PBX that lives but whose critical service failed for
// longer than HangGrace. The restart follows through the policy.
func (s *Supervisor) killHung(ctx context.Context, p *process, failedFor time.Duration) {
	now := time.Now()
	s.emit(Event{Kind: EventHung, Time: now, PID: p.pid,
		Reason: fmt.Sprintf("critical service failed for %v (hang_grace %v) while the process lives; killing it",
			failedFor.Round(time.Millisecond), s.cfg.HangGrace)})
	if err := s.be.stop(ctx, p); err != nil {
		s.log.Error("cannot kill the hung pbx", "pid", p.pid, "err", err)
		return
	}
	s.set(func() { s.proc, s.downAt, s.lastExit = nil, now, p.exit })
}

// handle runs an operator command in the Run goroutine.
func (s *Supervisor) handle(ctx context.Context, op string) error {
	now := time.Now()
	switch op {
	case "start":
		if p := s.proc; p != nil {
			return fmt.Errorf("supervisor: start %s: already running as pid %d", s.be.target(), p.pid)
		}
		s.set(func() { s.held = false })
		return s.startNow(ctx, EventStarted, "operator start", false)
	case "stop":
		s.set(func() { s.held = true })
		p := s.proc
		if err := s.be.stop(ctx, p); err != nil {
			return fmt.Errorf("supervisor: stop %s: %w", s.be.target(), err)
		}
		ev := Event{Kind: EventStopped, Time: now, Reason: "operator stop"}
		s.set(func() {
			if p != nil {
				s.proc, s.lastExit, ev.PID, ev.Exit = nil, p.exit, p.pid, p.exit
			}
			s.downAt, s.state, s.nextAt = now, StateStopped, time.Time{}
		})
		s.emit(ev)
		return nil
	case "restart":
		s.set(func() { s.held = false })
		if p := s.proc; p != nil {
			if err := s.be.stop(ctx, p); err != nil {
				return fmt.Errorf("supervisor: restart %s: stop: %w", s.be.target(), err)
			}
			s.set(func() { s.proc, s.lastExit = nil, p.exit })
		}
		s.set(func() { s.downAt = now })
		return s.startNow(ctx, EventRestarted, "operator restart", false)
	case "reset":
		s.set(func() { s.restarts, s.fault, s.faultWhy, s.nextAt = nil, false, "", time.Time{} })
		s.emit(Event{Kind: EventReset, Time: now, Reason: "operator reset: restart count and fault cleared"})
		s.mu.Lock()
		maint := s.maintenance
		s.mu.Unlock()
		if s.proc != nil || s.held || maint {
			return nil
		}
		// A PBX that is down starts now, as the operator's start: it does
		// not count against max_restarts (the count reads 0 after a reset,
		// and the window's max_restarts automatic restarts remain), and
		// no back-off stands before it. A failed start goes on through
		// the policy, counted from zero.
		_ = s.startNow(ctx, EventRestarted, "operator reset", false)
		return nil
	}
	return fmt.Errorf("supervisor: unknown command %q", op)
}
