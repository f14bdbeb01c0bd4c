package hooks

import (
	"context"
	"errors"
	"fmt"
	"github.com/pbxha/pbxha/internal/testenv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readPID waits for a hook to write a pid file and returns its number.
func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("pid file %q: got %q, want a pid", path, b)
	}
	return pid
}

func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		hook      Hook
		wantCode  int
		wantErr   []string // substrings of the error; nil means success
		wantOut   string   // substring of Output
		wantTimed bool
	}{
		{
			name:     "exit 0",
			hook:     Hook{Name: "ok", Command: []string{"sh", "-c", "echo moved eip; echo done >&2"}},
			wantCode: 0,
			wantOut:  "moved eip\ndone\n",
		},
		{
			name:     "exit 3 quotes output",
			hook:     Hook{Name: "eip", Command: []string{"sh", "-c", "echo first; echo; echo second >&2; echo third; echo fourth; exit 3"}},
			wantCode: 3,
			wantErr:  []string{"hooks: run eip (sh): exit status 3 after ", "output: first | second | third"},
			wantOut:  "fourth",
		},
		{
			name:     "killed by a signal",
			hook:     Hook{Name: "sig", Command: []string{"sh", "-c", "kill -TERM $$"}},
			wantCode: -1,
			wantErr:  []string{"hooks: run sig (sh): killed by signal terminated", "no output"},
		},
		{
			name:     "missing program",
			hook:     Hook{Name: "nope", Command: []string{"/nonexistent/pbxha-hook"}},
			wantCode: -1,
			wantErr:  []string{"hooks: run nope (/nonexistent/pbxha-hook): ", "no such file"},
		},
		{
			name:     "empty command",
			hook:     Hook{Name: "empty"},
			wantCode: -1,
			wantErr:  []string{"hooks: empty (<empty>): command is empty"},
		},
		{
			name:     "negative timeout",
			hook:     Hook{Command: []string{"true"}, Timeout: -time.Second},
			wantCode: -1,
			wantErr:  []string{"hooks: true: timeout -1s: must not be negative"},
		},
		{
			name:      "timeout",
			hook:      Hook{Name: "slow", Command: []string{"sh", "-c", "echo started; exec sleep 30"}, Timeout: 200 * time.Millisecond},
			wantCode:  -1,
			wantErr:   []string{"hooks: run slow (sh): no exit within 200ms, process group killed: output: started", "context deadline exceeded"},
			wantOut:   "started",
			wantTimed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), tc.hook, nil)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Run: got error %v, want nil", err)
				}
				if !res.OK() {
					t.Errorf("OK: got false, want true (%+v)", res)
				}
			} else {
				if err == nil {
					t.Fatalf("Run: got nil error, want one containing %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error: got %q, want it to contain %q", err, w)
					}
				}
				if res.OK() {
					t.Errorf("OK: got true, want false")
				}
			}
			if res.ExitCode != tc.wantCode {
				t.Errorf("ExitCode: got %d, want %d", res.ExitCode, tc.wantCode)
			}
			if res.TimedOut != tc.wantTimed {
				t.Errorf("TimedOut: got %v, want %v", res.TimedOut, tc.wantTimed)
			}
			if !strings.Contains(res.Output, tc.wantOut) {
				t.Errorf("Output: got %q, want it to contain %q", res.Output, tc.wantOut)
			}
			if res.Name != tc.hook.Name {
				t.Errorf("Name: got %q, want %q", res.Name, tc.hook.Name)
			}
		})
	}
}

func TestRunPassesEnv(t *testing.T) {
	t.Setenv("PBXHA_DATABASE_DSN", "postgres://secret@db/")
	t.Setenv("PBXHA_PEER_HOST", "from-daemon")
	t.Setenv("HOOKS_TEST_KEEP", "kept")
	vars := Vars{Event: "takeover", Node: "node-a", Peer: "node-b", Role: "primary", Epoch: 42,
		VIP: "192.0.2.10/24", Reason: "peer failed: sip timeout"}.Map()
	vars["PBXHA_PEER_HOST"] = "from-caller"
	h := Hook{Name: "env", Command: []string{"sh", "-c",
		`printf '%s\n' "$PBXHA_EVENT" "$PBXHA_NODE" "$PBXHA_PEER" "$PBXHA_ROLE" "$PBXHA_EPOCH" "$PBXHA_VIP" "$PBXHA_REASON" "${PBXHA_DATABASE_DSN-unset}" "$PBXHA_PEER_HOST" "$HOOKS_TEST_KEEP"`}}
	res, err := Run(context.Background(), h, vars)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"takeover", "node-a", "node-b", "primary", "42", "192.0.2.10/24",
		"peer failed: sip timeout", "unset", "from-caller", "kept"}
	got := strings.Split(strings.TrimSuffix(res.Output, "\n"), "\n")
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("hook saw: got %q, want %q", got, want)
	}
}

func TestRunBadEnv(t *testing.T) {
	res, err := Run(context.Background(), Hook{Name: "x", Command: []string{"true"}}, map[string]string{"A=B": "1"})
	if err == nil || !strings.Contains(err.Error(), `hooks: run x (true): hooks: env name "A=B"`) {
		t.Errorf("error: got %v, want an env name error", err)
	}
	if res.ExitCode != -1 {
		t.Errorf("ExitCode: got %d, want -1 (not started)", res.ExitCode)
	}
}

func TestRunTimeoutKillsGrandchild(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	// The shell starts a grandchild in the background and waits for it; the
	// grandchild redirects its output, so only the group kill can end it.
	h := Hook{Name: "stuck", Timeout: 300 * time.Millisecond, Command: []string{"sh", "-c",
		`sleep 60 >/dev/null 2>&1 & echo $! > "$PIDFILE"; wait`}}
	res, err := Run(context.Background(), h, map[string]string{"PIDFILE": pidFile})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: got %v, want context.DeadlineExceeded", err)
	}
	if !res.TimedOut {
		t.Errorf("TimedOut: got false, want true")
	}
	pid := readPID(t, pidFile)
	testenv.WaitExited(t, pid, 10*time.Second)
}

func TestRunCallerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "hook.pid")
	done := make(chan struct{})
	var (
		res Result
		err error
	)
	go func() {
		defer close(done)
		res, err = Run(ctx, Hook{Name: "long", Timeout: time.Minute, Command: []string{"sh", "-c",
			`echo $$ > "$PIDFILE.tmp"; mv "$PIDFILE.tmp" "$PIDFILE"; exec sleep 60`}}, map[string]string{"PIDFILE": pidFile})
	}()
	testenv.WaitForReason(t, 10*time.Second, "the hook started (its pid file)", func() (bool, string) {
		_, err := os.Stat(pidFile)
		return err == nil, fmt.Sprint(err)
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Run: not returned 10s after cancel")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "canceled, process group killed") {
		t.Errorf("error: got %v, want a cancel error", err)
	}
	if !res.TimedOut {
		t.Errorf("TimedOut: got false, want true")
	}
	testenv.WaitExited(t, readPID(t, pidFile), 10*time.Second)
}

func TestRunBackgroundHolderDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "daemon.pid")
	// The hook exits 0 at once but leaves a process that keeps the output
	// pipe open, like a daemon started without redirecting its output.
	h := Hook{Name: "daemon", Timeout: time.Minute, Command: []string{"sh", "-c",
		`sleep 60 & echo $! > "$PIDFILE"; echo started`}}
	start := time.Now()
	res, err := Run(context.Background(), h, map[string]string{"PIDFILE": pidFile})
	elapsed := time.Since(start)
	pid := readPID(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err != nil {
		t.Fatalf("Run: got %v, want nil", err)
	}
	if !strings.Contains(res.Output, "started") {
		t.Errorf("Output: got %q, want it to contain %q", res.Output, "started")
	}
	if elapsed > 30*time.Second {
		t.Errorf("Run took %s: got blocked by the background process, want about %s", elapsed, waitDelay)
	}
	// Success does not kill the group: what the hook started keeps running.
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("background process %d after Run: got %v, want alive", pid, err)
	}
}

func TestRunOutputBounded(t *testing.T) {
	h := Hook{Name: "chatty", Command: []string{"sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; exit 1"}}
	res, err := Run(context.Background(), h, nil)
	if err == nil {
		t.Fatalf("Run: got nil error, want exit status 1")
	}
	if len(res.Output) != OutputLimit || !res.Truncated {
		t.Errorf("Output: got %d bytes, truncated %v; want %d, true", len(res.Output), res.Truncated, OutputLimit)
	}
	if n := len(err.Error()); n > 1000 {
		t.Errorf("error length: got %d bytes, want a bounded message", n)
	}
}

func TestRunCallerDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Hook{Name: "slow", Timeout: time.Minute, Command: []string{"sleep", "30"}}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "caller's deadline passed, process group killed") {
		t.Errorf("error: got %v, want the caller's deadline", err)
	}
	if !res.TimedOut {
		t.Errorf("TimedOut: got false, want true")
	}
}
