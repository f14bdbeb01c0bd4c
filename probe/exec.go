package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Limits of the exec probe.
const (
	execStdoutLimit = 4 << 10               // bytes of stdout kept; the rest is read and dropped
	execStderrLimit = 1 << 10               // bytes of stderr kept for the error message
	execDetailLimit = 200                   // bytes of the first line shown as Detail
	execWaitDelay   = 50 * time.Millisecond // after the kill or exit, how long to wait for escaped holders of the output pipes
)

// ExecConfig is one exec probe: a Nagios-style plugin. It mirrors
// configs.ExecProbe.
type ExecConfig struct {
	Command []string // argv, run without a shell; Command[0] is looked up in PATH when it has no slash
	Env     []string // extra KEY=VALUE entries on top of pbxha's environment
}

// Exec runs a command and reads its verdict with the Nagios plugin
// convention: exit 0 ok, 1 degraded (WARNING), 2 failed (CRITICAL), 3
// (UNKNOWN) and anything else failed. The first line of stdout is the Detail;
// performance data after "|" becomes Values. The command runs in its own
// process group, and when ctx ends first the whole group is killed, so
// plugins cannot leave stray children behind. Exec is safe for concurrent
// use.
type Exec struct {
	argv []string
	env  []string
}

// NewExec checks cfg and returns the probe. Whether the command exists is
// checked at each run (class config), so a plugin installed later is picked
// up.
func NewExec(cfg ExecConfig) (*Exec, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("exec: command is empty")
	}
	for _, kv := range cfg.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("exec: %s: env entry %q is not KEY=VALUE", cfg.Command[0], kv)
		}
	}
	return &Exec{argv: append([]string(nil), cfg.Command...), env: append([]string(nil), cfg.Env...)}, nil
}

// Check runs the command once and waits for it, at most until ctx's deadline
// (plus the time to kill and reap it).
func (p *Exec) Check(ctx context.Context) Result {
	name := p.argv[0]
	cmd := exec.CommandContext(ctx, name, p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group id is the child's pid (Setpgid): this reaches every
		// process the plugin started that did not leave the group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = execWaitDelay
	stdout := &execBuffer{limit: execStdoutLimit}
	stderr := &execBuffer{limit: execStderrLimit}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	start := time.Now()
	err := cmd.Run()
	r := Result{Start: start, Latency: time.Since(start)}
	if cmd.Process == nil && ctx.Err() != nil {
		r.Status, r.Class, r.Detail = Failed, ClassTimeout, "no time left to start"
		r.Err = fmt.Errorf("exec: start %s: %w", name, ctx.Err())
		return r
	}
	if cmd.Process == nil || cmd.ProcessState == nil {
		r.Status, r.Class, r.Detail = Failed, ClassConfig, "cannot run"
		r.Err = fmt.Errorf("exec: start %s: %w", name, err)
		return r
	}
	ps := cmd.ProcessState
	if ctx.Err() != nil && !ps.Exited() {
		r.Status, r.Class, r.Detail = Failed, ClassTimeout, "no verdict in time, process group killed"
		if dl, ok := ctx.Deadline(); ok && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.Err = fmt.Errorf("exec: %s: no exit within %s: %w", name, dl.Sub(start).Round(time.Millisecond), ctx.Err())
		} else {
			r.Err = fmt.Errorf("exec: %s: %w", name, ctx.Err())
		}
		return r
	}

	detail, perf := splitPluginOutput(stdout.String())
	r.Values = ParsePerfdata(perf)
	if len(r.Values) == 0 {
		r.Values = nil
	}
	r.Code = ps.ExitCode()
	var verdict string
	switch r.Code {
	case 0:
		r.Status, verdict = OK, "ok"
	case 1:
		r.Status, r.Class, verdict = Degraded, ClassBadResponse, "warning"
	case 2:
		r.Status, r.Class, verdict = Failed, ClassBadResponse, "critical"
	case 3:
		r.Status, r.Class, verdict = Failed, ClassBadResponse, "unknown"
	default:
		r.Status, r.Class, verdict = Failed, ClassBadResponse, "not a plugin exit code"
	}
	if !ps.Exited() {
		verdict = "killed by " + ps.String()
		r.Code = 0
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			verdict = "killed by signal " + ws.Signal().String()
		}
	}
	if detail == "" {
		detail = "no output, " + verdict
	}
	r.Detail = detail
	if r.Status == Failed {
		msg := fmt.Sprintf("exit status %d (%s)", r.Code, verdict)
		if !ps.Exited() {
			msg = verdict
		}
		if line := firstLine(stderr.String()); line != "" {
			msg += ": stderr: " + line
		}
		r.Err = fmt.Errorf("exec: %s: %s", name, msg)
	}
	return r
}

// splitPluginOutput returns the first line's text (before "|") and all
// performance data: after "|" on the first line, and after the first "|" in
// the long output that follows (Nagios plugin API).
func splitPluginOutput(out string) (detail, perf string) {
	first, rest, _ := strings.Cut(out, "\n")
	text, p1, _ := strings.Cut(first, "|")
	perf = p1
	if _, p2, ok := strings.Cut(rest, "|"); ok {
		perf += " " + p2
	}
	return truncateUTF8(strings.TrimSpace(text), execDetailLimit), perf
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return truncateUTF8(strings.TrimSpace(line), execDetailLimit)
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary, marking the cut.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// execBuffer keeps the first limit bytes written and drops the rest while
// still accepting them, so a chatty plugin never blocks on a full pipe.
type execBuffer struct {
	limit int
	b     []byte
}

// Write keeps what fits and reports everything written.
func (w *execBuffer) Write(p []byte) (int, error) {
	if room := w.limit - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// String returns the bytes kept.
func (w *execBuffer) String() string { return string(w.b) }
