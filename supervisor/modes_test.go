package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"golang.org/x/sys/unix"
)

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// pidFromFile reads a pid written by a test script.
func pidFromFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestPIDFileMode(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	pidfile := filepath.Join(dir, "pbx.pid")
	// Like an init script: launch the PBX in the background, record its pid.
	start := writeScript(t, filepath.Join(dir, "start.sh"),
		`"$TESTPBX" -listen "$ADDR" -transport udp </dev/null >/dev/null 2>&1 &
echo $! > "$PIDFILE"
echo start >> "$DIR/calls"
`)
	stop := writeScript(t, filepath.Join(dir, "stop.sh"),
		`[ -s "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null
rm -f "$PIDFILE"
echo stop >> "$DIR/calls"
`)
	for k, v := range map[string]string{"TESTPBX": testpbxBin, "ADDR": addr, "PIDFILE": pidfile, "DIR": dir} {
		t.Setenv(k, v)
	}
	// The PBX runs before pbxha: the supervisor adopts it.
	if out, err := runScript(start); err != nil {
		t.Fatalf("start.sh: %v %s", err, out)
	}
	first := pidFromFile(t, pidfile)
	killAtEnd(t, first)
	answersSIP(t, addr, 10*time.Second)

	cfg := Config{
		Mode: ModePIDFile, PIDFile: pidfile, Match: "testpbx -listen " + addr,
		StartCommand: []string{start}, StopCommand: []string{stop},
		StateDir:    filepath.Join(dir, "state"),
		StopTimeout: 2 * time.Second, StartTimeout: 10 * time.Second,
		MaxRestarts: 3, Window: time.Minute,
	}
	h := startSupervisor(t, cfg)
	st := waitStatus(t, h.s, 10*time.Second, "running", func(s Status) bool { return s.State == StateRunning })
	if st.PID != first {
		t.Fatalf("adopted pid: got %d, want %d", st.PID, first)
	}
	if err := unix.Kill(first, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	down := h.rec.wait(t, EventDown, 1, 5*time.Second)
	if down.PID != first {
		t.Errorf("pbx_down: got pid %d, want %d", down.PID, first)
	}
	re := h.rec.wait(t, EventRestarted, 1, 15*time.Second)
	killAtEnd(t, re.PID)
	if re.PID == first || re.PID != pidFromFile(t, pidfile) {
		t.Errorf("pbx_restarted: got pid %d, want the new pid in the pidfile (old %d)", re.PID, first)
	}
	answersSIP(t, addr, 10*time.Second)
	if b, _ := os.ReadFile(filepath.Join(dir, "calls")); string(b) != "start\nstop\nstart\n" {
		t.Errorf("commands run: got %q, want start (by hand), stop, start", b)
	}

	// A pidfile naming another program (pid reused) is not the PBX.
	if err := os.WriteFile(filepath.Join(dir, "other.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := &pidfileBackend{cfg: Config{PIDFile: filepath.Join(dir, "other.pid"), Match: "testpbx -listen"}, log: discard()}
	if p, err := other.find(context.Background()); p != nil || err != nil {
		t.Errorf("find with a foreign pid: got %v, %v, want nil, nil", p, err)
	}

	if err := h.s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	testenv.WaitExited(t, re.PID, 5*time.Second)
}

func TestSystemdModeWithStandIn(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	// A stand-in for systemctl speaking its command line and `show` output.
	ctl := writeScript(t, filepath.Join(dir, "systemctl"), `
pidf="$DIR/main.pid"
echo "$*" >> "$DIR/calls"
running() {
	[ -s "$pidf" ] || return 1
	pid=$(cat "$pidf")
	[ -r /proc/$pid/status ] && ! grep -q '^State:.*Z' /proc/$pid/status
}
case "$1" in
show)
	if running; then echo "MainPID=$(cat "$pidf")"; echo ActiveState=active; echo SubState=running
	else echo MainPID=0; echo ActiveState=inactive; echo SubState=dead; fi ;;
start)
	running && exit 0
	"$TESTPBX" -listen "$ADDR" -transport udp </dev/null >/dev/null 2>&1 &
	echo $! > "$pidf" ;;
stop)
	if running; then
		pid=$(cat "$pidf"); kill -TERM $pid; kill -CONT $pid
		i=0; while running && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
		running && kill -KILL $pid
	fi
	rm -f "$pidf" ;;
*) echo "stand-in systemctl: unknown command $1" >&2; exit 1 ;;
esac
`)
	for k, v := range map[string]string{"TESTPBX": testpbxBin, "ADDR": addr, "DIR": dir} {
		t.Setenv(k, v)
	}
	cfg := Config{Mode: ModeSystemd, Unit: "test-pbx.service", Systemctl: ctl,
		StopTimeout: 5 * time.Second, MaxRestarts: 3, Window: time.Minute}
	h := startSupervisor(t, cfg)
	first := h.rec.wait(t, EventStarted, 1, 10*time.Second)
	killAtEnd(t, first.PID)
	answersSIP(t, addr, 10*time.Second)
	if first.PID != pidFromFile(t, filepath.Join(dir, "main.pid")) {
		t.Errorf("pbx_started pid: got %d, want the unit's MainPID", first.PID)
	}
	if err := unix.Kill(first.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.rec.wait(t, EventDown, 1, 5*time.Second)
	re := h.rec.wait(t, EventRestarted, 1, 10*time.Second)
	killAtEnd(t, re.PID)
	answersSIP(t, addr, 10*time.Second)
	if err := h.s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	testenv.WaitExited(t, re.PID, 5*time.Second)
	b, _ := os.ReadFile(filepath.Join(dir, "calls"))
	var ops []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(l, "show ") {
			ops = append(ops, l)
		}
	}
	want := []string{"start -- test-pbx.service", "start -- test-pbx.service", "stop -- test-pbx.service"}
	if strings.Join(ops, "|") != strings.Join(want, "|") {
		t.Errorf("systemctl calls (besides show): got %q, want %q", ops, want)
	}
	if !strings.Contains(string(b), "show --property=MainPID --property=ActiveState --property=SubState -- test-pbx.service") {
		t.Errorf("systemctl show call: got %q, want the show command", b)
	}
}

func TestNoneModeObservesOnly(t *testing.T) {
	h := startSupervisor(t, Config{Mode: ModeNone})
	waitStatus(t, h.s, 5*time.Second, "unmanaged", func(s Status) bool { return s.State == StateUnmanaged })
	if err := h.s.Restart(context.Background()); err == nil {
		t.Error("Restart in mode none: got nil, want an error")
	}
}

func runScript(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return execCommand(ctx, path)
}
