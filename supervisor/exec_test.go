package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestExecKillRestarts(t *testing.T) {
	addr := testenv.FreeAddr(t)
	h := startSupervisor(t, execConfig(t, addr))
	first := h.rec.wait(t, EventStarted, 1, 10*time.Second)
	killAtEnd(t, first.PID)
	answersSIP(t, addr, 10*time.Second)

	if err := unix.Kill(first.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	down := h.rec.wait(t, EventDown, 1, 5*time.Second)
	if down.PID != first.PID || down.Exit != "signal KILL" {
		t.Errorf("pbx_down: got pid %d exit %q, want pid %d exit %q", down.PID, down.Exit, first.PID, "signal KILL")
	}
	re := h.rec.wait(t, EventRestarted, 1, 5*time.Second)
	killAtEnd(t, re.PID)
	if re.PID == first.PID || re.PID == 0 {
		t.Errorf("pbx_restarted: got pid %d, want a new pid (old %d)", re.PID, first.PID)
	}
	if re.Downtime <= 0 || re.Downtime > 5*time.Second {
		t.Errorf("pbx_restarted downtime: got %v, want in (0, 5s]", re.Downtime)
	}
	answersSIP(t, addr, 10*time.Second)
	if zombie(first.PID) {
		t.Errorf("old pid %d: got zombie, want reaped", first.PID)
	}
	st := h.s.Status()
	if st.State != StateRunning || st.PID != re.PID || st.RestartsInWindow != 1 || st.LastExit != "signal KILL" {
		t.Errorf("status: got %+v, want running pid %d, 1 restart, last exit signal KILL", st, re.PID)
	}
}

func TestExecHangKilledAndRestarted(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg := execConfig(t, addr)
	cfg.HangGrace = 300 * time.Millisecond
	cfg.StopTimeout = 500 * time.Millisecond
	h := startSupervisor(t, cfg)
	first := h.rec.wait(t, EventStarted, 1, 10*time.Second)
	killAtEnd(t, first.PID)
	answersSIP(t, addr, 10*time.Second)

	// Freeze the PBX; the SIP probe (as the agent would run it) fails.
	// SIGSTOP is asynchronous: Freeze returns once the process has
	// stopped, before which it may still answer.
	testenv.Freeze(t, first.PID)
	if alive := probeOnce(addr); alive {
		t.Fatal("a SIGSTOPped testpbx answered OPTIONS; the test cannot detect a hang")
	}
	h.s.ServiceFailed(true)
	hung := h.rec.wait(t, EventHung, 1, 10*time.Second)
	if hung.PID != first.PID {
		t.Errorf("pbx_hung: got pid %d, want %d", hung.PID, first.PID)
	}
	re := h.rec.wait(t, EventRestarted, 1, 10*time.Second)
	killAtEnd(t, re.PID)
	if re.PID == first.PID {
		t.Errorf("pbx_restarted: got the old pid %d, want a new one", re.PID)
	}
	testenv.WaitExited(t, first.PID, 5*time.Second)
	answersSIP(t, addr, 10*time.Second)
	h.s.ServiceFailed(false)
	if n := h.rec.count(EventDown); n != 0 {
		t.Errorf("pbx_down events: got %d, want 0 (a hang kill is pbx_hung)", n)
	}
	if zombie(first.PID) {
		t.Errorf("old pid %d: got zombie, want reaped", first.PID)
	}
}

func TestExecFaultWithoutStorm(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	cfg := Config{
		Mode:           ModeExec,
		Command:        []string{"/bin/sh", "-c", `echo start >> "$STARTS"; exit 3`},
		Env:            []string{"STARTS=" + starts},
		StateDir:       filepath.Join(dir, "state"),
		BackoffInitial: 20 * time.Millisecond,
		BackoffFactor:  2,
		BackoffMax:     time.Second,
		MaxRestarts:    3,
		Window:         time.Minute,
	}
	h := startSupervisor(t, cfg)
	lim := h.rec.wait(t, EventLimitReached, 1, 10*time.Second)
	if !strings.Contains(lim.Reason, "3 restarts") || lim.Exit != "exit status 3" {
		t.Errorf("restart_limit_reached: got reason %q exit %q, want 3 restarts, exit status 3", lim.Reason, lim.Exit)
	}
	st := h.s.Status()
	if st.State != StateFault || !st.Fault || st.RestartsInWindow != 3 || st.NextRestart.Before(time.Now().Add(30*time.Second)) {
		t.Errorf("status: got %+v, want fault, 3 restarts, next restart ~1m away", st)
	}
	// Back-off held: the first start plus 3 restarts, spread by at least
	// 20+40+80ms. No more starts follow while in fault.
	time.Sleep(300 * time.Millisecond) // absence of starts over a span: nothing to wait for
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "start"); n != 4 {
		t.Errorf("starts: got %d, want 4 (first start + max_restarts 3)", n)
	}
	var evs []Event
	h.rec.mu.Lock()
	evs = append(evs, h.rec.events...)
	h.rec.mu.Unlock()
	var firstStart, lastRestart time.Time
	for _, e := range evs {
		if e.Kind == EventStarted && firstStart.IsZero() {
			firstStart = e.Time
		}
		if e.Kind == EventRestarted {
			lastRestart = e.Time
		}
	}
	if span := lastRestart.Sub(firstStart); span < 140*time.Millisecond {
		t.Errorf("first start to last restart: got %v, want >= 140ms (back-off 20+40+80ms)", span)
	}

	// Reset starts it again at once, uncounted: the count reads 0 and the
	// next failures get max_restarts automatic restarts again.
	h.s.Reset()
	h.rec.wait(t, EventReset, 1, 5*time.Second)
	again := h.rec.wait(t, EventRestarted, 4, 5*time.Second)
	if again.Reason != "operator reset" {
		t.Errorf("start after reset: got reason %q, want operator reset (no back-off)", again.Reason)
	}
	h.rec.wait(t, EventDown, 5, 5*time.Second)
	lim2 := h.rec.wait(t, EventLimitReached, 2, 10*time.Second)
	if !strings.Contains(lim2.Reason, "3 restarts") {
		t.Errorf("second restart_limit_reached: got %q, want 3 restarts after the reset", lim2.Reason)
	}
	h.rec.mu.Lock()
	restarted := 0
	for _, e := range h.rec.events {
		if e.Kind == EventRestarted {
			restarted++
		}
	}
	h.rec.mu.Unlock()
	if restarted != 3+1+3 {
		t.Errorf("pbx_restarted events: got %d, want 7 (3, the reset's start, 3 more)", restarted)
	}
}

func TestExecLeavesPBXRunningAndIsAdopted(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg := execConfig(t, addr)
	h1 := startSupervisor(t, cfg)
	first := h1.rec.wait(t, EventStarted, 1, 10*time.Second)
	killAtEnd(t, first.PID)
	answersSIP(t, addr, 10*time.Second)
	h1.stop(t)
	if !alive(first.PID) {
		t.Fatalf("pid %d: got dead after Run returned, want the PBX left running", first.PID)
	}
	answersSIP(t, addr, 5*time.Second)

	// A new supervisor on the same state dir adopts it: no second start
	// (which would also fail on the port in use).
	h2 := startSupervisor(t, cfg)
	st := waitStatus(t, h2.s, 10*time.Second, "running", func(s Status) bool { return s.State == StateRunning })
	if st.PID != first.PID {
		t.Errorf("adopted pid: got %d, want %d", st.PID, first.PID)
	}
	if n := h2.rec.count(EventStarted) + h2.rec.count(EventRestarted); n != 0 {
		t.Errorf("starts by the second supervisor: got %d, want 0", n)
	}
	// It watches the adopted PBX through a pidfd: a kill is noticed.
	if err := unix.Kill(first.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	down := h2.rec.wait(t, EventDown, 1, 5*time.Second)
	if down.PID != first.PID {
		t.Errorf("pbx_down: got pid %d, want %d", down.PID, first.PID)
	}
	re := h2.rec.wait(t, EventRestarted, 1, 5*time.Second)
	killAtEnd(t, re.PID)
	answersSIP(t, addr, 10*time.Second)
	testenv.WaitExited(t, first.PID, 5*time.Second)
	// The first supervisor's Wait goroutine reaps its old child.
	if err := testenv.Poll(5*time.Second, func() (bool, string) { return !zombie(first.PID), "" }); err != nil {
		t.Errorf("pid %d: got zombie, want reaped (%v)", first.PID, err)
	}
}

func TestExecAdoptRefusesReusedPID(t *testing.T) {
	tests := []struct {
		name  string
		ticks func(real uint64) uint64
	}{
		{"start time differs (pid reused)", func(real uint64) uint64 { return real + 1 }},
		{"pid gone", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pid := os.Getpid()
			st, err := readStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			r := record{PID: pid, StartTicks: st.StartTicks}
			if tc.ticks != nil {
				r.StartTicks = tc.ticks(st.StartTicks)
			} else {
				r.PID = 1 << 22 // above pid_max: no such process
			}
			if err := writeRecord(filepath.Join(dir, stateFile), r); err != nil {
				t.Fatal(err)
			}
			b := &execBackend{cfg: Config{StateDir: dir}, log: discard()}
			p, err := b.find(context.Background())
			if p != nil || err != nil {
				t.Errorf("find: got %v, %v, want nil, nil", p, err)
			}
			if _, err := os.Stat(filepath.Join(dir, stateFile)); !os.IsNotExist(err) {
				t.Errorf("stale state file: got %v, want removed", err)
			}
		})
	}
}

func TestExecStopOnExit(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg := execConfig(t, addr)
	cfg.StopOnExit = true
	h := startSupervisor(t, cfg)
	first := h.rec.wait(t, EventStarted, 1, 10*time.Second)
	killAtEnd(t, first.PID)
	h.stop(t)
	if alive(first.PID) {
		t.Errorf("pid %d: got alive, want stopped with Run (StopOnExit)", first.PID)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, stateFile)); !os.IsNotExist(err) {
		t.Errorf("state file after stop: got %v, want removed", err)
	}
}

func TestExecMaintenanceBlocksRestart(t *testing.T) {
	addr := testenv.FreeAddr(t)
	h := startSupervisor(t, execConfig(t, addr))
	first := h.rec.wait(t, EventStarted, 1, 10*time.Second)
	killAtEnd(t, first.PID)
	h.s.SetMaintenance(true)
	if err := unix.Kill(first.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.rec.wait(t, EventDown, 1, 5*time.Second)
	waitStatus(t, h.s, 5*time.Second, "stopped", func(s Status) bool { return s.State == StateStopped && s.Maintenance })
	time.Sleep(300 * time.Millisecond) // absence over a span: BackoffInitial is 0, a restart would be immediate
	if n := h.rec.count(EventRestarted); n != 0 {
		t.Fatalf("restarts in maintenance: got %d, want 0", n)
	}
	h.s.SetMaintenance(false)
	re := h.rec.wait(t, EventRestarted, 1, 5*time.Second)
	killAtEnd(t, re.PID)
	answersSIP(t, addr, 10*time.Second)
}

func TestExecOperatorCommands(t *testing.T) {
	addr := testenv.FreeAddr(t)
	h := startSupervisor(t, execConfig(t, addr))
	first := h.rec.wait(t, EventStarted, 1, 10*time.Second)
	killAtEnd(t, first.PID)
	ctx := context.Background()

	if err := h.s.Start(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("Start while running: got %v, want already running", err)
	}
	if err := h.s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if alive(first.PID) || zombie(first.PID) {
		t.Errorf("pid %d after Stop: got alive or zombie, want gone", first.PID)
	}
	// Stop sends SIGTERM. The test PBX, stopped a moment after its start,
	// dies of it, unless it has already set up its handler, which ends it
	// with status 0.
	if st := h.s.Status(); st.State != StateStopped || st.PID != 0 || (st.LastExit != "signal TERM" && st.LastExit != "exit status 0") {
		t.Errorf("status after Stop: got %+v, want stopped, no pid, last exit signal TERM (or exit status 0)", st)
	}
	if n := h.rec.count(EventRestarted); n != 0 {
		t.Errorf("automatic restarts after Stop: got %d, want 0", n)
	}
	if err := h.s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	second := h.rec.wait(t, EventStarted, 2, 5*time.Second)
	killAtEnd(t, second.PID)
	answersSIP(t, addr, 10*time.Second)
	if err := h.s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	third := h.rec.wait(t, EventRestarted, 1, 5*time.Second)
	killAtEnd(t, third.PID)
	if third.PID == second.PID || !strings.Contains(third.Reason, "operator") {
		t.Errorf("pbx_restarted: got pid %d reason %q, want a new pid, operator", third.PID, third.Reason)
	}
	answersSIP(t, addr, 10*time.Second)
	if st := h.s.Status(); st.RestartsInWindow != 0 {
		t.Errorf("restarts in window after operator restart: got %d, want 0", st.RestartsInWindow)
	}
}

func TestExecUserAndDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running as another user needs root") // a feature test, not an environment need
	}
	// Not t.TempDir: its parent is private to root, nobody could not enter.
	dir, err := os.MkdirTemp("", "supervisor-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "id")
	cfg := Config{
		Mode: ModeExec, User: "nobody", Dir: dir,
		Command:  []string{"/bin/sh", "-c", `echo "$(id -u) $(pwd) $GREETING" > id; exec sleep 60`},
		Env:      []string{"GREETING=hello"},
		StateDir: filepath.Join(dir, "state"), StopOnExit: true,
	}
	h := startSupervisor(t, cfg)
	ev := h.rec.wait(t, EventStarted, 1, 10*time.Second)
	killAtEnd(t, ev.PID)
	var b []byte
	_ = testenv.Poll(5*time.Second, func() (bool, string) { // the comparison below reports a miss
		b, _ = os.ReadFile(out)
		return strings.HasSuffix(string(b), "\n"), ""
	})
	c, err := credential("nobody", "")
	if err != nil {
		t.Fatal(err)
	}
	want := itoa(int(c.uid)) + " " + dir + " hello\n"
	if string(b) != want {
		t.Errorf("child's uid, dir and env: got %q, want %q", b, want)
	}
	st, err := readStat(ev.PID)
	if err != nil || st.PGID != ev.PID {
		t.Errorf("child's process group: got %d (%v), want its own %d", st.PGID, err, ev.PID)
	}
}
