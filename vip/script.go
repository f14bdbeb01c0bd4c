package vip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// scriptWaitDelay bounds the wait for a killed script's output pipes, which a
// grandchild outside the process group could hold open.
const scriptWaitDelay = 2 * time.Second

// maxScriptOutput is how much of a script's combined output is kept for
// logs and errors (the tail).
const maxScriptOutput = 4096

// scriptVIP moves the address by running operator commands.
type scriptVIP struct {
	cfg Config
	env []string // PBXHA_* event variables other than PBXHA_ACTION
	log *slog.Logger

	mu   sync.Mutex
	last bool // what the last successful up/down left, for Held without a check command
}

func newScriptVIP(cfg Config, log *slog.Logger) *scriptVIP {
	env := []string{"PBXHA_INTERFACE=" + cfg.Interface, "PBXHA_VIP_CIDR=" + cfg.Address, "PBXHA_VIP=" + cfg.Address}
	if p, err := parseAddress(cfg.Address); err == nil {
		env[2] = "PBXHA_VIP=" + p.Addr().String()
	}
	return &scriptVIP{cfg: cfg, env: env, log: log}
}

// errExit carries a script's exit status.
type errExit struct {
	code int
	tail string
}

func (e *errExit) Error() string {
	if e.tail == "" {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return fmt.Sprintf("exit status %d: %s", e.code, e.tail)
}

// run runs one command with the event in its environment, killing its
// process group when ctx ends or the timeout passes.
func (s *scriptVIP) run(ctx context.Context, action string, argv []string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Script.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Env = append(cmd.Env, "PBXHA_ACTION="+action)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = scriptWaitDelay
	out := &tailBuffer{max: maxScriptOutput}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start).Round(time.Millisecond)
	what := fmt.Sprintf("vip: script %s %s", action, argv[0])
	if ctx.Err() != nil && cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s: no exit within %s, process group killed: %w", what, s.cfg.Script.Timeout, ctx.Err())
		}
		return fmt.Errorf("%s: cancelled, process group killed: %w", what, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", what, &errExit{code: ee.ExitCode(), tail: out.lastLine()})
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.log.Debug("script done", "action", action, "elapsed", elapsed, "output", out.lastLine())
	return nil
}

func (s *scriptVIP) up(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.run(ctx, "up", s.cfg.Script.Up); err != nil {
		return err
	}
	s.last = true
	s.log.Info("up script succeeded", "action", "up")
	return nil
}

func (s *scriptVIP) down(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.run(ctx, "down", s.cfg.Script.Down); err != nil {
		return err
	}
	s.last = false
	s.log.Info("down script succeeded", "action", "down")
	return nil
}

// held runs the check command: exit 0 means held, exit 1 not held. Without
// a check command it reports what the last up or down script left.
func (s *scriptVIP) held(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cfg.Script.Check) == 0 {
		return s.last, nil
	}
	err := s.run(ctx, "check", s.cfg.Script.Check)
	var ee *errExit
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.code == 1:
		return false, nil
	default:
		return false, err
	}
}

// ensureAbsent runs the down script unless the check command says the
// address is not here; without a check command it always runs it.
func (s *scriptVIP) ensureAbsent(ctx context.Context) (bool, error) {
	if len(s.cfg.Script.Check) > 0 {
		held, err := s.held(ctx)
		if err != nil {
			return false, err
		}
		if !held {
			return false, nil
		}
	}
	if err := s.down(ctx); err != nil {
		return false, err
	}
	s.log.Warn("ran the down script at start-up so that a standby holds no service address", "action", "ensure_absent")
	return true, nil
}

func (s *scriptVIP) announces() bool { return false }
func (s *scriptVIP) announce() error { return nil }
func (s *scriptVIP) close() error    { return nil }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// lastLine returns the last non-empty line written, trimmed.
func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}
