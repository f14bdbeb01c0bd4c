package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/internal/testenv"
)

func pbxOf(t *testing.T, socket string) *control.PBX {
	st, err := status(t, socket)
	if err != nil {
		return nil
	}
	return st.PBX
}

// TestDaemonSupervisesPBX runs the real daemon in exec mode around the test
// PBX process: a killed PBX is restarted, a hung one (SIGSTOP) is found by
// the SIP probe, killed and restarted, an operator restart works, and when
// pbxha stops the PBX keeps running.
func TestDaemonSupervisesPBX(t *testing.T) {
	pbxha, testpbx := build(t)
	dir := t.TempDir()
	addr := testenv.FreeAddr(t) // the PBX listens on UDP and TCP with this port
	cfgPath, socket := filepath.Join(dir, "pbxha.yaml"), filepath.Join(dir, "pbxha.sock")
	cfg := fmt.Sprintf(`node: {name: node-a}
control: {socket: %[1]s}
state_dir: %[2]s
probes:
  sip:
    - {name: pbx, target: "sip:%[3]s;transport=udp", interval: 200ms, timeout: 150ms, rise: 1, fall: 2}
pbx:
  supervise:
    mode: exec
    command: ["%[4]s", "-listen", "%[3]s", "-transport", "udp,tcp"]
    hang_grace: 1s
    stop_timeout: 2s
    backoff_initial: 100ms
    max_restarts: 10
`, socket, dir, addr, testpbx)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := start(t, nil, pbxha, "run", "-c", cfgPath)
	var lastPID int
	t.Cleanup(func() {
		if lastPID != 0 && !testenv.Exited(lastPID) {
			_ = syscall.Kill(lastPID, syscall.SIGKILL)
		}
	})
	running := func(what string, notPID int) int {
		t.Helper()
		var pid int
		testenv.WaitFor(t, 30*time.Second, what, func() bool {
			p := pbxOf(t, socket)
			if p == nil || p.State != "running" || p.PID == 0 || p.PID == notPID {
				return false
			}
			pid = p.PID
			return probeState(t, socket, "pbx") == "ok"
		})
		lastPID = pid
		return pid
	}
	pid := running("the PBX started and answering", 0)

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pid2 := running("the PBX restarted after SIGKILL", pid)
	if p := pbxOf(t, socket); p.RestartsInWindow != 1 || p.LastExit != "signal KILL" {
		t.Errorf("after SIGKILL got %+v, want 1 restart, last exit signal KILL", p)
	}

	testenv.Freeze(t, pid2)
	pid3 := running("the hung PBX killed and restarted", pid2)
	if !testenv.Exited(pid2) {
		t.Errorf("hung PBX pid %d still alive", pid2)
	}

	// --wait returns once the restarted PBX answers SIP: a probe result
	// after the restart passed, which status then shows at once.
	out, err := exec.Command(pbxha, "pbx", "restart", "--wait", "--timeout", "30s", "--socket", socket).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pbx restart: answering after ") {
		t.Fatalf("pbxha pbx restart --wait: %v\n%s", err, out)
	}
	if st, err := status(t, socket); err != nil || st.Probes[0].Last == nil || st.Probes[0].Last.Status != "ok" || st.PBX.PID == pid3 {
		t.Errorf("right after pbx restart --wait got %+v, %v; want a new PBX whose last check passed", st.PBX, err)
	}
	pid4 := running("the PBX restarted by the operator", pid3)
	table, _ := exec.Command(pbxha, "status", "--socket", socket).Output()
	if !strings.Contains(string(table), fmt.Sprintf("pbx exec  running  pid %d", pid4)) {
		t.Errorf("status lacks the PBX line:\n%s", table)
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-d.done
	if testenv.Exited(pid4) {
		t.Fatalf("PBX pid %d died with pbxha; it must keep running", pid4)
	}
	logs := d.output()
	for _, want := range []string{"pbx pbx_down", "pbx pbx_hung", "pbx pbx_restarted"} {
		if !strings.Contains(logs, want) {
			t.Errorf("daemon log lacks %q", want)
		}
	}
}
