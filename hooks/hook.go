package hooks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// DefaultTimeout is a hook's timeout when Hook.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// waitDelay bounds how long Run waits, after the hook exited or was killed,
// for processes that escaped its group to let go of the output pipe. A hook
// that starts a daemon which keeps stdout open is not held up by it.
const waitDelay = time.Second

// Hook is one operator command.
type Hook struct {
	// Name identifies the hook in errors, logs and events.
	Name string
	// Command is the argv, run without a shell. Command[0] is looked up in
	// PATH when it holds no slash.
	Command []string
	// Timeout bounds the run; when it passes, the hook's process group is
	// killed with SIGKILL. Zero means DefaultTimeout.
	Timeout time.Duration
}

// target names the hook in errors: its name and program.
func (h Hook) target() string {
	prog := "<empty>"
	if len(h.Command) > 0 {
		prog = h.Command[0]
	}
	if h.Name == "" || h.Name == prog {
		return prog
	}
	return fmt.Sprintf("%s (%s)", h.Name, prog)
}

// Validate reports an empty command or a negative timeout.
func (h Hook) Validate() error {
	if len(h.Command) == 0 || h.Command[0] == "" {
		return fmt.Errorf("hooks: %s: command is empty", h.target())
	}
	if h.Timeout < 0 {
		return fmt.Errorf("hooks: %s: timeout %s: must not be negative", h.target(), h.Timeout)
	}
	return nil
}

// Result is what one hook run did.
type Result struct {
	Name     string
	Start    time.Time
	Duration time.Duration
	// ExitCode is the exit status, or -1 when the hook did not start or was
	// killed by a signal.
	ExitCode int
	// TimedOut reports that the hook was killed because its timeout or the
	// caller's context ran out.
	TimedOut bool
	// Output is the start of the combined stdout and stderr, at most
	// OutputLimit bytes; Truncated reports that more was written.
	Output    string
	Truncated bool
}

// OK reports whether the hook ran and exited 0.
func (r Result) OK() bool { return r.ExitCode == 0 && !r.TimedOut }

// Run runs h with env (see Environ) added to pbxha's environment and waits
// until it exits, or until h.Timeout or ctx ends, whichever comes first; then
// the hook's whole process group is killed with SIGKILL and Run returns
// shortly after. The error says why the hook failed and quotes the first
// lines of its output; Result is filled in either case. Run is safe for
// concurrent use.
func Run(ctx context.Context, h Hook, env map[string]string) (Result, error) {
	res := Result{Name: h.Name, ExitCode: -1}
	if err := h.Validate(); err != nil {
		return res, err
	}
	environ, err := environ(env)
	if err != nil {
		return res, fmt.Errorf("hooks: run %s: %w", h.target(), err)
	}
	timeout := h.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(rctx, h.Command[0], h.Command[1:]...)
	cmd.Env = environ
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group id is the hook's pid (Setpgid): this reaches every
		// process it started that did not leave the group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	out := &boundedBuffer{limit: OutputLimit}
	cmd.Stdout, cmd.Stderr = out, out

	res.Start = time.Now()
	err = cmd.Run()
	res.Duration = time.Since(res.Start)
	res.Output, res.Truncated = out.result()

	if cmd.ProcessState == nil {
		if rctx.Err() != nil {
			res.TimedOut = true
			return res, fmt.Errorf("hooks: run %s: no time left to start: %w", h.target(), rctx.Err())
		}
		return res, fmt.Errorf("hooks: run %s: %w", h.target(), err)
	}
	ps := cmd.ProcessState
	if ps.Exited() {
		res.ExitCode = ps.ExitCode()
	}
	if rctx.Err() != nil && !ps.Exited() {
		res.TimedOut = true
		why := fmt.Sprintf("no exit within %s", timeout)
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			why = "canceled"
		case ctx.Err() != nil:
			why = "caller's deadline passed"
		}
		return res, fmt.Errorf("hooks: run %s: %s, process group killed%s: %w",
			h.target(), why, quote(res.Output), rctx.Err())
	}
	switch {
	case !ps.Exited():
		verdict := ps.String()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			verdict = "killed by signal " + ws.Signal().String()
		}
		return res, fmt.Errorf("hooks: run %s: %s after %s%s", h.target(), verdict, roundDur(res.Duration), quote(res.Output))
	case res.ExitCode != 0:
		return res, fmt.Errorf("hooks: run %s: exit status %d after %s%s", h.target(), res.ExitCode, roundDur(res.Duration), quote(res.Output))
	}
	// Exit 0. An error left here is exec.ErrWaitDelay (a process that
	// escaped the group kept the output open) or a failed output copy:
	// either way the hook did its job.
	return res, nil
}

// quote renders the output summary for an error message.
func quote(output string) string {
	s := Summary(output)
	if s == "" {
		return ", no output"
	}
	return ": output: " + s
}

func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
