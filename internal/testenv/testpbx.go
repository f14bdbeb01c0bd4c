package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestPBX is the test PBX (test/testpbx) running as its own process, so a
// test can freeze it (Freeze, Thaw) or kill it by PID like a real PBX.
type TestPBX struct {
	PID int    // its process ID
	UDP string // host:port where it answers SIP OPTIONS over UDP
	TCP string // the same over TCP
}

// BuildTestPBX builds test/testpbx into a directory removed when the test
// ends and returns the program's path. It skips or fails (see LookPath)
// without the go command.
func BuildTestPBX(t testing.TB) string {
	t.Helper()
	goBin := LookPath(t, "go", filepath.Join(runtime.GOROOT(), "bin"))
	bin := filepath.Join(t.TempDir(), "testpbx")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/pbxha/pbxha/test/testpbx").CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: go build testpbx: %v\n%s", err, out)
	}
	return bin
}

// StartTestPBX runs bin, a build of test/testpbx, on 127.0.0.1 with a free
// port for UDP and TCP, and returns once it has printed its ready line
// (within 30s) with where it listens. Its stderr goes to the test
// process's. When the test ends it is killed by PID (also while frozen)
// and reaped.
func StartTestPBX(t testing.TB, bin string) *TestPBX {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-transport", "udp,tcp")
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("testenv: start testpbx: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		r.Close()
	})

	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Scan()
		line <- sc.Text() // "" when the process ended first
	}()
	var l string
	select {
	case l = <-line:
	case <-time.After(30 * time.Second):
		t.Fatalf("testenv: testpbx pid %d printed no ready line within 30s", cmd.Process.Pid)
	}
	// "ready udp=127.0.0.1:PORT tcp=127.0.0.1:PORT"
	rest, ok := strings.CutPrefix(l, "ready ")
	p := &TestPBX{PID: cmd.Process.Pid}
	for _, f := range strings.Fields(rest) {
		if v, found := strings.CutPrefix(f, "udp="); found {
			p.UDP = v
		} else if v, found := strings.CutPrefix(f, "tcp="); found {
			p.TCP = v
		}
	}
	if !ok || p.UDP == "" || p.TCP == "" {
		t.Fatalf("testenv: got testpbx line %q, want ready udp=HOST:PORT tcp=HOST:PORT", l)
	}
	return p
}
