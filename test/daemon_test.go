package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/internal/testenv"
)

// binSet is one build of pbxha and the test PBX, made once for the package.
type binSet struct {
	once           sync.Once
	err            error
	pbxha, testpbx string
}

// bins are built with the race detector, for the tests; plainBins without
// it, for the benchmarks that measure the daemon's CPU.
var bins, plainBins binSet

// build compiles pbxha and the test PBX with -race into a temp dir shared by
// the tests.
func build(t testing.TB) (pbxha, testpbx string) {
	t.Helper()
	return bins.build(t, "-race")
}

// buildPlain compiles them without the race detector, whose cost per
// operation would swamp what a benchmark measures.
func buildPlain(t testing.TB) (pbxha, testpbx string) {
	t.Helper()
	return plainBins.build(t)
}

func (bs *binSet) build(t testing.TB, flags ...string) (pbxha, testpbx string) {
	t.Helper()
	bs.once.Do(func() {
		dir, err := os.MkdirTemp("", "pbxha-bin-")
		if err != nil {
			bs.err = err
			return
		}
		bs.pbxha, bs.testpbx = filepath.Join(dir, "pbxha"), filepath.Join(dir, "testpbx")
		for out, pkg := range map[string]string{bs.pbxha: "../cmd/pbxha", bs.testpbx: "./testpbx"} {
			args := append(append([]string{"build"}, flags...), "-o", out, pkg)
			if b, err := exec.Command("go", args...).CombinedOutput(); err != nil {
				bs.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if bs.err != nil {
		t.Fatal(bs.err)
	}
	return bs.pbxha, bs.testpbx
}

// proc is a child process with its output collected.
type proc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     bytes.Buffer
	done    chan struct{} // closed when the process has been waited for
	waitErr error         // valid after done
}

func (p *proc) wait() {
	p.waitErr = p.cmd.Wait()
	close(p.done)
}

// stop kills the process by PID unless it already exited, and reaps it.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs name with args; the process is killed by PID when the test ends.
func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.wait()
	t.Cleanup(p.stop)
	return p
}

// waitRoles waits up to within until the node behind each socket has the
// role at the same index; otherwise it calls dump (the nodes' logs) and
// fails with every node's role.
func waitRoles(t *testing.T, within time.Duration, what string, dump func(), sockets []string, roles ...string) {
	t.Helper()
	got := make([]string, len(sockets))
	err := testenv.Poll(within, func() (bool, string) {
		done := true
		for i, s := range sockets {
			got[i] = "unreachable"
			if st, err := status(t, s); err == nil {
				got[i] = st.Role
			}
			done = done && got[i] == roles[i]
		}
		return done, fmt.Sprintf("roles %q", got)
	})
	if err != nil {
		dump()
		t.Fatalf("waited %s for %s: %v; want %q", within, what, err, roles)
	}
}

func writeConfig(t *testing.T, path, socket, target string, extra string) {
	t.Helper()
	cfg := fmt.Sprintf(`node:
  name: node-a
control:
  socket: %s
state_dir: %s
probes:
  sip:
    - name: pbx
      target: "sip:%s;transport=udp"
      interval: 200ms
      timeout: 150ms
      rise: 2
      fall: 2
%s`, socket, filepath.Dir(path), target, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func status(t *testing.T, socket string) (control.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return control.NewClient(socket).Status(ctx)
}

func probeState(t *testing.T, socket, name string) string {
	st, err := status(t, socket)
	if err != nil {
		return "unreachable: " + err.Error()
	}
	for _, p := range st.Probes {
		if p.Name == name {
			return p.State
		}
	}
	return "absent"
}

// TestDaemonLifecycle runs the real pbxha binary against the test PBX as a
// separate process: detection of a hung PBX (SIGSTOP), recovery, the status
// CLI in both formats, SIGHUP reloads good and bad, and a clean SIGTERM.
func TestDaemonLifecycle(t *testing.T) {
	pbxha, testpbx := build(t)
	pbx := testenv.StartTestPBX(t, testpbx)
	addr := pbx.UDP
	dir := t.TempDir()
	cfgPath, socket := filepath.Join(dir, "pbxha.yaml"), filepath.Join(dir, "pbxha.sock")
	writeConfig(t, cfgPath, socket, addr, "")

	d := start(t, nil, pbxha, "run", "-c", cfgPath)
	testenv.WaitFor(t, 20*time.Second, "probe pbx ok", func() bool { return probeState(t, socket, "pbx") == "ok" })

	out, err := exec.Command(pbxha, "status", "-c", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("pbxha status: %v\n%s", err, out)
	}
	for _, want := range []string{"node node-a", "health healthy", "role primary", "pbx", "200"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(pbxha, "status", "--json", "--socket", socket).Output()
	if err != nil {
		t.Fatalf("pbxha status --json: %v", err)
	}
	var st control.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status --json is not the documented document: %v\n%s", err, out)
	}
	if st.SchemaVersion != 1 || st.Health != "healthy" || len(st.Probes) != 1 || st.Probes[0].Last.Code != 200 {
		t.Errorf("got status %+v, want schema 1, healthy, pbx answering 200", st)
	}

	// A hung PBX: the process lives, SIP is silent.
	testenv.Freeze(t, pbx.PID)
	testenv.WaitFor(t, 20*time.Second, "probe pbx failed after SIGSTOP", func() bool { return probeState(t, socket, "pbx") == "failed" })
	st, _ = status(t, socket)
	if st.Health != "failed" || st.Probes[0].Last.Class != "timeout" {
		t.Errorf("got health %s class %s, want failed by timeout", st.Health, st.Probes[0].Last.Class)
	}
	testenv.Thaw(t, pbx.PID)
	testenv.WaitFor(t, 20*time.Second, "probe pbx ok after SIGCONT", func() bool { return probeState(t, socket, "pbx") == "ok" })

	// A bad config on SIGHUP is refused; the running one stays.
	if err := os.WriteFile(cfgPath, []byte("control:\n  socket: "+socket+"\nprobes:\n  sip:\n    - name: pbx\n      target: sip:x\n      timeout: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "reload error in status", func() bool {
		st, err := status(t, socket)
		return err == nil && strings.Contains(st.Config.LastReloadError, "timeout")
	})
	if got := probeState(t, socket, "pbx"); got != "ok" {
		t.Errorf("after a refused reload got probe state %s, want ok", got)
	}
	// The CLI still reaches the daemon through the refused file's socket,
	// warns about the file, and shows the whole reason.
	var cliOut, cliErr bytes.Buffer
	cli := exec.Command(pbxha, "-c", cfgPath, "status")
	cli.Stdout, cli.Stderr = &cliOut, &cliErr
	if err := cli.Run(); err != nil {
		t.Errorf("pbxha status after a refused reload: %v\n%s", err, cliErr.String())
	}
	if !strings.Contains(cliErr.String(), "warning: the config has problems") ||
		!strings.Contains(cliOut.String(), "last reload refused; the running config stays:\n  invalid configuration:\n  "+cfgPath+": probes.sip[0].") {
		t.Errorf("pbxha status after a refused reload: stdout\n%s\nstderr\n%s\nwant the whole reason and a warning", cliOut.String(), cliErr.String())
	}

	// A good config on SIGHUP adds a probe and keeps the old one's state.
	// node.cluster changes too: pending until the next start.
	writeConfig(t, cfgPath, socket, addr, `  tcp:
    - name: pbx-tcp
      address: `+addr+`
      interval: 200ms
      timeout: 150ms
`)
	cfgText, _ := os.ReadFile(cfgPath)
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(cfgText), "  name: node-a\n", "  name: node-a\n  cluster: renamed\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := status(t, socket)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "tcp probe ok after reload", func() bool { return probeState(t, socket, "pbx-tcp") == "ok" })
	after, _ := status(t, socket)
	if after.Probes[0].Checks < before.Probes[0].Checks || after.Config.LastReloadError != "" {
		t.Errorf("after reload got pbx checks %d (before %d), reload error %q; want state carried, error cleared",
			after.Probes[0].Checks, before.Probes[0].Checks, after.Config.LastReloadError)
	}
	if got := after.Config.PendingRestart; len(got) != 1 || got[0] != "node.cluster" || after.Cluster == "renamed" {
		t.Errorf("after a reload changing node.cluster got pending_restart %v and cluster %q; want [node.cluster] and the running cluster", got, after.Cluster)
	}

	// SIGTERM: clean exit, socket gone, status says no daemon with exit 3.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
		if d.waitErr != nil {
			t.Fatalf("pbxha run exited with %v after SIGTERM, want 0\n%s", d.waitErr, d.output())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pbxha run did not exit within 20s of SIGTERM")
	}
	cmd := exec.Command(pbxha, "status", "--socket", socket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("pbxha status with no daemon: got %v, want exit 3", err)
	}
	if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n"); lines != 0 || !strings.Contains(stderr.String(), "no pbxha daemon") {
		t.Errorf("got %q, want a one-line explanation", stderr.String())
	}
	logs := d.output()
	for _, want := range []string{"probe state changed", "config reload refused", "config reloaded", "pbxha stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("daemon log lacks %q", want)
		}
	}
	if sc := bufio.NewScanner(strings.NewReader(logs)); sc.Scan() && !strings.Contains(sc.Text(), "level=") {
		t.Errorf("first log line %q is not slog text", sc.Text())
	}
}

// TestBadConfigExitsTwo checks that a daemon with a bad config names file, key
// and problem and exits 2 before starting anything.
func TestBadConfigExitsTwo(t *testing.T) {
	pbxha, _ := build(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	socket := filepath.Join(dir, "never.sock")
	if err := os.WriteFile(path, []byte("control:\n  socket: "+socket+"\nprobes:\n  sip:\n    - target: sip:127.0.0.1\n      interval: 1s\n      timeout: 2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pbxha, "run", "-c", path).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("got %v, want exit 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "bad.yaml: probes.sip[0].timeout") {
		t.Errorf("got %q, want the file and key named", out)
	}
	if _, err := os.Stat(socket); err == nil {
		t.Error("control socket exists: something started despite the bad config")
	}
}

// TestMaintenanceAndPBXActions drives the operator commands against the real
// daemon: maintenance mode shows in status, and pbx actions without a
// supervisor are refused with a reason (exit 1).
func TestMaintenanceAndPBXActions(t *testing.T) {
	pbxha, testpbx := build(t)
	addr := testenv.StartTestPBX(t, testpbx).UDP
	dir := t.TempDir()
	cfgPath, socket := filepath.Join(dir, "pbxha.yaml"), filepath.Join(dir, "pbxha.sock")
	writeConfig(t, cfgPath, socket, addr, "")
	start(t, nil, pbxha, "run", "-c", cfgPath)
	testenv.WaitFor(t, 20*time.Second, "daemon answering", func() bool { _, err := status(t, socket); return err == nil })

	if out, err := exec.Command(pbxha, "maintenance", "on", "-c", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("maintenance on: %v\n%s", err, out)
	}
	st, err := status(t, socket)
	if err != nil || !st.Maintenance || st.Role != "maintenance" {
		t.Errorf("after maintenance on got maintenance %v role %q (%v), want true, maintenance", st.Maintenance, st.Role, err)
	}
	out, _ := exec.Command(pbxha, "status", "-c", cfgPath).Output()
	if !strings.Contains(string(out), "maintenance mode: automatic action is frozen") {
		t.Errorf("status table does not say maintenance:\n%s", out)
	}
	if out, err := exec.Command(pbxha, "maintenance", "off", "--socket", socket).CombinedOutput(); err != nil {
		t.Fatalf("maintenance off: %v\n%s", err, out)
	}
	if st, _ := status(t, socket); st.Maintenance || st.Role != "primary" {
		t.Errorf("after maintenance off got maintenance %v role %q, want false, primary", st.Maintenance, st.Role)
	}

	cmd := exec.Command(pbxha, "pbx", "restart", "--socket", socket)
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "not supervised") {
		t.Errorf("pbx restart without supervisor: got %v %q, want exit 1 saying not supervised", err, out)
	}
	if err := exec.Command(pbxha, "pbx", "explode", "--socket", socket).Run(); !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("pbx explode: got %v, want exit 2", err)
	}
}
