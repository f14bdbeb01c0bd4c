package probe_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// script writes an executable /bin/sh script into a fresh directory and
// returns its path. A script that leaves a process behind on purpose writes
// its pid to "$0.pid"; the test stops it by that pid at cleanup.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "check_test")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(path + ".pid"); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return path
}

func runExec(t *testing.T, cfg probe.ExecConfig, deadline time.Duration) probe.Result {
	t.Helper()
	p, err := probe.NewExec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	return p.Check(ctx)
}

func TestExecVerdicts(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus probe.Status
		wantClass  string
		wantCode   int
		wantDetail string
		wantValues map[string]float64
		wantErr    string // substring of Err; "" means Err is nil
	}{
		{name: "ok", body: `echo "PBX OK - 3 registrations"; exit 0`,
			wantStatus: probe.OK, wantDetail: "PBX OK - 3 registrations"},
		{name: "warning is degraded", body: `echo "PBX WARNING - 80% channels"; exit 1`,
			wantStatus: probe.Degraded, wantClass: probe.ClassBadResponse, wantCode: 1, wantDetail: "PBX WARNING - 80% channels"},
		{name: "critical is failed", body: `echo "PBX CRITICAL - no trunk"; exit 2`,
			wantStatus: probe.Failed, wantClass: probe.ClassBadResponse, wantCode: 2, wantDetail: "PBX CRITICAL - no trunk",
			wantErr: "exec: CHECK: exit status 2 (critical)"},
		{name: "unknown is failed", body: `echo "UNKNOWN - cannot parse"; echo "bad option" >&2; exit 3`,
			wantStatus: probe.Failed, wantClass: probe.ClassBadResponse, wantCode: 3, wantDetail: "UNKNOWN - cannot parse",
			wantErr: "exit status 3 (unknown): stderr: bad option"},
		{name: "other exit code is failed", body: `exit 42`,
			wantStatus: probe.Failed, wantClass: probe.ClassBadResponse, wantCode: 42, wantDetail: "no output, not a plugin exit code",
			wantErr: "exit status 42 (not a plugin exit code)"},
		{name: "killed by a signal", body: `kill -TERM $$`,
			wantStatus: probe.Failed, wantClass: probe.ClassBadResponse, wantDetail: "no output, killed by signal terminated",
			wantErr: "killed by signal terminated"},
		{name: "perfdata on the first line", body: `echo "OK - rta 0.5ms|rta=0.5ms;100;500;0 pl=0%;20;60;; 'active calls'=4;;;0;100"`,
			wantStatus: probe.OK, wantDetail: "OK - rta 0.5ms",
			wantValues: map[string]float64{"rta": 0.0005, "pl": 0, "active_calls": 4}},
		{name: "perfdata in the long output", body: "printf 'OK - disk fine | root=10MB\\nline two\\nline three | tmp=2KB;;\\nswap=1GB\\n'",
			wantStatus: probe.OK, wantDetail: "OK - disk fine",
			wantValues: map[string]float64{"root": 10 << 20, "tmp": 2 << 10, "swap": 1 << 30}},
		{name: "only the first line is the detail", body: `printf 'first\nsecond\n'`,
			wantStatus: probe.OK, wantDetail: "first"},
		{name: "no trailing newline", body: `printf 'OK'`, wantStatus: probe.OK, wantDetail: "OK"},
		{name: "silent success", body: `exit 0`, wantStatus: probe.OK, wantDetail: "no output, ok"},
		{name: "long first line is cut", body: `printf '%0300d\n' 0`,
			wantStatus: probe.OK, wantDetail: strings.Repeat("0", 200) + "..."},
		{name: "huge output does not block", body: `echo "OK big"; head -c 1048576 /dev/zero | tr '\0' x; exit 1`,
			wantStatus: probe.Degraded, wantClass: probe.ClassBadResponse, wantCode: 1, wantDetail: "OK big"},
		{name: "background child keeps stdout open", body: `echo "OK forked"; sleep 30 & echo $! > "$0.pid"; exit 0`,
			wantStatus: probe.OK, wantDetail: "OK forked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := script(t, tt.body)
			r := runExec(t, probe.ExecConfig{Command: []string{path}}, 20*time.Second)
			if r.Status != tt.wantStatus || r.Class != tt.wantClass || r.Code != tt.wantCode {
				t.Errorf("got %v %q code %d (%v), want %v %q code %d", r.Status, r.Class, r.Code, r.Err, tt.wantStatus, tt.wantClass, tt.wantCode)
			}
			if r.Detail != tt.wantDetail {
				t.Errorf("detail: got %q, want %q", r.Detail, tt.wantDetail)
			}
			if !reflect.DeepEqual(r.Values, tt.wantValues) {
				t.Errorf("values: got %v, want %v", r.Values, tt.wantValues)
			}
			want := strings.ReplaceAll(tt.wantErr, "CHECK", path)
			switch {
			case want == "" && r.Err != nil:
				t.Errorf("err: got %v, want none", r.Err)
			case want != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), want)):
				t.Errorf("err: got %v, want it to contain %q", r.Err, want)
			}
			if r.Latency <= 0 || r.Start.IsZero() {
				t.Errorf("start, latency: got %v, %s, want both set", r.Start, r.Latency)
			}
		})
	}
}

// TestExecArgvWithoutShell: arguments reach the plugin verbatim, with no
// shell expansion, and Env entries are added to the environment.
func TestExecArgvWithoutShell(t *testing.T) {
	path := script(t, `echo "$1|$2|$PBXHA_TEST_VAR"`)
	arg := `$HOME; echo injected`
	r := runExec(t, probe.ExecConfig{Command: []string{path, arg, "two words"}, Env: []string{"PBXHA_TEST_VAR=from env"}}, 20*time.Second)
	if want := arg; r.Detail != want {
		t.Errorf("detail: got %q, want %q", r.Detail, want)
	}
	// The rest of the line went to perfdata, which holds no key=value item.
	if r.Values != nil {
		t.Errorf("values: got %v, want none", r.Values)
	}
	path2 := script(t, `echo "$PBXHA_TEST_VAR"`)
	r = runExec(t, probe.ExecConfig{Command: []string{path2}, Env: []string{"PBXHA_TEST_VAR=first", "PBXHA_TEST_VAR=second wins"}}, 20*time.Second)
	if want := "second wins"; r.Detail != want {
		t.Errorf("env: got %q, want %q", r.Detail, want)
	}
}

// TestExecTimeoutKillsGroup: a plugin that outlives the deadline is killed
// together with the children it started.
func TestExecTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	path := script(t, `sleep 300 &
echo $! > `+pidFile+`
echo "still checking"
wait`)
	deadline := 500 * time.Millisecond
	began := time.Now()
	r := runExec(t, probe.ExecConfig{Command: []string{path}}, deadline)
	if el := time.Since(began); el > deadline+5*time.Second {
		t.Errorf("check took %s, want about the deadline %s", el, deadline)
	}
	if r.Status != probe.Failed || r.Class != probe.ClassTimeout {
		t.Fatalf("got %v %q (%v), want failed %q", r.Status, r.Class, r.Err, probe.ClassTimeout)
	}
	// The message gives the time from the check's start to its deadline:
	// 500ms, or a little less when the check started late on a busy machine.
	if r.Err == nil || !regexp.MustCompile(`no exit within (4\d\d|500)ms`).MatchString(r.Err.Error()) {
		t.Errorf("err: got %v, want it to say no exit within about 500ms", r.Err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the script did not record its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The grandchild is reparented to init when its parent dies; until init
	// reaps it, it is a zombie, which counts as gone.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(10 * time.Second); processAlive(pid); <-tick.C {
		if time.Now().After(end) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d still running 10s after the timeout", pid)
		}
	}
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "123 (sleep) S ...".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// TestExecLeavesNoChildren: after many runs, including killed ones, this
// process has no children left, running or zombie.
func TestExecLeavesNoChildren(t *testing.T) {
	ok := script(t, `echo OK`)
	slow := script(t, `sleep 300`)
	for range 10 {
		runExec(t, probe.ExecConfig{Command: []string{ok}}, 20*time.Second)
		runExec(t, probe.ExecConfig{Command: []string{slow}}, 50*time.Millisecond)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil || len(tasks) == 0 {
		t.Skip("skipped: /proc/self/task/*/children is not available on this kernel")
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended meanwhile
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			t.Errorf("%s: got children %s, want none", f, s)
		}
	}
}

func TestExecCannotRun(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "check_noexec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho OK\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		argv []string
	}{
		{"not in PATH", []string{"pbxha-no-such-plugin"}},
		{"no such file", []string{filepath.Join(dir, "missing")}},
		{"not executable", []string{notExec}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runExec(t, probe.ExecConfig{Command: tt.argv}, 20*time.Second)
			if r.Status != probe.Failed || r.Class != probe.ClassConfig {
				t.Errorf("got %v %q (%v), want failed %q", r.Status, r.Class, r.Err, probe.ClassConfig)
			}
			if r.Err == nil || !strings.HasPrefix(r.Err.Error(), "exec: start "+tt.argv[0]+": ") {
				t.Errorf("err: got %v, want it prefixed %q", r.Err, "exec: start "+tt.argv[0]+": ")
			}
		})
	}
}

func TestExecDeadlineAlreadyPassed(t *testing.T) {
	p, err := probe.NewExec(probe.ExecConfig{Command: []string{script(t, "echo OK")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	if r := p.Check(ctx); r.Status != probe.Failed || r.Class != probe.ClassTimeout {
		t.Errorf("got %v %q (%v), want failed %q", r.Status, r.Class, r.Err, probe.ClassTimeout)
	}
}

func TestNewExec(t *testing.T) {
	tests := []struct {
		name string
		cfg  probe.ExecConfig
		ok   bool
	}{
		{"command", probe.ExecConfig{Command: []string{"/bin/true"}}, true},
		{"empty", probe.ExecConfig{}, false},
		{"empty argv0", probe.ExecConfig{Command: []string{""}}, false},
		{"env without =", probe.ExecConfig{Command: []string{"/bin/true"}, Env: []string{"FOO"}}, false},
		{"env with empty key", probe.ExecConfig{Command: []string{"/bin/true"}, Env: []string{"=x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := probe.NewExec(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("got error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func BenchmarkExecCheck(b *testing.B) {
	p, err := probe.NewExec(probe.ExecConfig{Command: []string{"/bin/true"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r := p.Check(ctx)
		cancel()
		if r.Status != probe.OK {
			b.Fatalf("got %v (%v), want ok", r.Status, r.Err)
		}
	}
}
