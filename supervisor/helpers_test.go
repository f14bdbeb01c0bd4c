package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck"
	"golang.org/x/sys/unix"
)

// testpbxBin is the test PBX built once by TestMain.
var testpbxBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "supervisor-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testpbxBin = filepath.Join(dir, "testpbx")
	if out, err := exec.Command("go", "build", "-o", testpbxBin, "../test/testpbx").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testpbx: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// recorder collects events, and the PBX processes they say were started.
type recorder struct {
	mu      sync.Mutex
	events  []Event
	started []startedProc
	ch      chan struct{}
}

// startedProc is a PBX process a supervisor started: its PID and start
// time, so that it is killed only while the PID is still the same process.
type startedProc struct {
	pid   int
	ticks uint64
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) add(ev Event) {
	var sp *startedProc
	if ev.Kind == EventStarted || ev.Kind == EventRestarted {
		if st, err := readStat(ev.PID); err == nil {
			sp = &startedProc{pid: ev.PID, ticks: st.StartTicks}
		}
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	if sp != nil {
		r.started = append(r.started, *sp)
	}
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recorder) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// wait returns the n-th (1-based) event of kind, waiting up to d.
func (r *recorder) wait(t *testing.T, kind string, n int, d time.Duration) Event {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		seen := 0
		for _, e := range r.events {
			if e.Kind == kind {
				seen++
				if seen == n {
					r.mu.Unlock()
					return e
				}
			}
		}
		all := fmt.Sprint(r.events)
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("no %s event #%d within %v; got events %s", kind, n, d, all)
		}
	}
}

// harness runs one Supervisor in the background.
type harness struct {
	s      *Supervisor
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

func startSupervisor(t *testing.T, cfg Config) *harness {
	t.Helper()
	rec := newRecorder()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, logger, rec.add)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{s: s, rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		h.stop(t)
		// The test's own killAtEnd cleanups run before this one, while
		// the supervisor still runs, which may restart a PBX they killed.
		rec.killStarted()
	})
	return h
}

// stop cancels Run and waits for it to return (idempotent).
func (h *harness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of its context ending")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// waitStatus waits up to d for cond on the Status.
func waitStatus(t *testing.T, s *Supervisor, d time.Duration, what string, cond func(Status) bool) Status {
	t.Helper()
	var st Status
	testenv.WaitForReason(t, d, "status "+what, func() (bool, string) {
		st = s.Status()
		return cond(st), fmt.Sprintf("status %+v", st)
	})
	return st
}

// answersSIP waits up to d for an OPTIONS to addr to be answered 200.
func answersSIP(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	p, err := sipcheck.New(sipcheck.Config{Target: "sip:" + addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	testenv.WaitForReason(t, d, "a 200 to OPTIONS from sip:"+addr, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		res := p.Check(ctx)
		cancel()
		return res.Status == probe.OK, fmt.Sprintf("%v %s %v", res.Status, res.Detail, res.Err)
	})
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.State != 'Z' && st.State != 'X'
}

// zombie reports whether pid is a zombie (exited, not reaped).
func zombie(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.State == 'Z'
}

// killStarted SIGKILLs, by PID, every PBX process the supervisor started
// that still runs: the supervisor has stopped and leaves them running.
func (r *recorder) killStarted() {
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	for _, p := range started {
		if now, err := readStat(p.pid); err == nil && now.StartTicks == p.ticks && now.State != 'Z' {
			_ = unix.Kill(p.pid, unix.SIGKILL)
		}
	}
}

// killAtEnd SIGKILLs pid (by pid, if it still is the same process) when the test ends.
func killAtEnd(t *testing.T, pid int) {
	st, err := readStat(pid)
	if err != nil {
		return
	}
	t.Cleanup(func() {
		if now, err := readStat(pid); err == nil && now.StartTicks == st.StartTicks {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	})
}

func execConfig(t *testing.T, addr string) Config {
	return Config{
		Mode:           ModeExec,
		Command:        []string{testpbxBin, "-listen", addr, "-transport", "udp"},
		StateDir:       t.TempDir(),
		StopTimeout:    2 * time.Second,
		BackoffInitial: 0,
		BackoffMax:     time.Second,
		MaxRestarts:    5,
		Window:         time.Minute,
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// probeOnce sends one OPTIONS to addr and reports whether a 200 came back.
func probeOnce(addr string) bool {
	p, err := sipcheck.New(sipcheck.Config{Target: "sip:" + addr}, nil)
	if err != nil {
		return false
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return p.Check(ctx).Status == probe.OK
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// execCommand runs a program to its end without pipes (a PBX it starts in
// the background must not hold the test's pipe open).
func execCommand(ctx context.Context, path string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path)
	return nil, cmd.Run()
}
