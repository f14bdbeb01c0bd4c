package testenv_test

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// fatalRecorder is a testing.TB whose Fatal records the message instead of
// ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper()                   {}
func (r *fatalRecorder) Fatal(args ...any)         { r.msg = fmt.Sprint(args...) }
func (r *fatalRecorder) Fatalf(f string, a ...any) { r.msg = fmt.Sprintf(f, a...) }

func TestWaitFor(t *testing.T) {
	start := time.Now()
	n := 0
	testenv.WaitFor(t, 5*time.Second, "the third check", func() bool { n++; return n == 3 })
	if took := time.Since(start); took > time.Second {
		t.Errorf("got %s for three checks, want well under 1s", took)
	}

	r := &fatalRecorder{TB: t}
	n = 0
	start = time.Now()
	testenv.WaitForReason(r, 300*time.Millisecond, "the impossible", func() (bool, string) {
		n++
		return false, fmt.Sprintf("check %d said no", n)
	})
	took := time.Since(start)
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("got a failure after %s, want after the 300ms bound", took)
	}
	want := fmt.Sprintf("waited 300ms for the impossible: not reached after %d checks; last: check %d said no", n, n)
	if r.msg != want {
		t.Errorf("got message %q, want %q", r.msg, want)
	}
	if n < 3 || n > 300/10+2 {
		t.Errorf("got %d checks in 300ms, want between 3 and %d", n, 300/10+2)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := testenv.FreeAddr(t)
	ap := netip.MustParseAddrPort(addr)
	if ap.Addr() != netip.MustParseAddr("127.0.0.1") || ap.Port() == 0 {
		t.Fatalf("got %s, want 127.0.0.1 and a port", addr)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("connected to %s, want refused", addr)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("got %v binding udp %s, want it free", err, addr)
	}
	pc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("got %v binding tcp %s, want it free", err, addr)
	}
	ln.Close()
	if a := testenv.FreeAddrOn(t, "127.0.0.2"); !strings.HasPrefix(a, "127.0.0.2:") {
		t.Errorf("got %s, want an address on 127.0.0.2", a)
	}
}

// TestFreezeAndExit stops a process, checks every thread is stopped, lets
// it go on, kills it and waits for its end.
func TestFreezeAndExit(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	waited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	go func() { _ = cmd.Wait(); close(waited) }()

	testenv.Freeze(t, pid)
	states, err := testenv.ProcStates(pid)
	if err != nil || strings.Trim(string(states), "T") != "" {
		t.Fatalf("after Freeze got thread states %q (%v), want all T", states, err)
	}
	testenv.Thaw(t, pid)
	testenv.WaitForReason(t, 5*time.Second, "the process running again", func() (bool, string) {
		states, err := testenv.ProcStates(pid)
		return err == nil && !strings.Contains(string(states), "T"), fmt.Sprintf("states %q (%v)", states, err)
	})
	if testenv.Exited(pid) {
		t.Fatalf("got pid %d exited, want running", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testenv.WaitExited(t, pid, 5*time.Second)
	<-waited
	if !testenv.Exited(pid) {
		t.Errorf("got pid %d running after it was reaped, want exited", pid)
	}
}

// TestStartTestPBX runs the test PBX, freezes it and leaves it frozen:
// the cleanup must still end it.
func TestStartTestPBX(t *testing.T) {
	if testing.Short() {
		t.Skip("builds test/testpbx")
	}
	p := testenv.StartTestPBX(t, testenv.BuildTestPBX(t))
	if p.PID <= 0 || !strings.HasPrefix(p.UDP, "127.0.0.1:") || p.UDP != p.TCP {
		t.Fatalf("got %+v, want a pid and the same 127.0.0.1 address for udp and tcp", p)
	}
	c, err := net.DialTimeout("tcp", p.TCP, 5*time.Second)
	if err != nil {
		t.Fatalf("got %v connecting to %s, want the test PBX listening", err, p.TCP)
	}
	c.Close()
	testenv.Freeze(t, p.PID)
}
