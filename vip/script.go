package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/pbxha/pbxha/hooks"
)

// scriptVIP moves the address by running operator commands.
type scriptVIP struct {
	cfg Config
	env map[string]string // PBXHA_* event variables other than PBXHA_ACTION
	log *slog.Logger

	mu   sync.Mutex
	last bool // what the last successful up/down left, for Held without a check command
}

func newScriptVIP(cfg Config, log *slog.Logger) *scriptVIP {
	env := map[string]string{hooks.EnvIface: cfg.Interface, hooks.EnvVIPCIDR: cfg.Address, hooks.EnvVIP: cfg.Address}
	if p, err := parseScriptAddress(cfg.Address); err == nil {
		env[hooks.EnvVIP] = p.Addr().String()
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

// run runs one command with the event in its environment, through the hooks
// runner: its own process group, killed when ctx ends or the timeout passes.
func (s *scriptVIP) run(ctx context.Context, action string, argv []string) error {
	env := maps.Clone(s.env)
	env[hooks.EnvAction] = action
	what := fmt.Sprintf("vip: script %s %s", action, argv[0])
	res, err := hooks.Run(ctx, hooks.Hook{Name: "vip-" + action, Command: argv, Timeout: s.cfg.Script.Timeout}, env)
	switch {
	case err == nil:
		s.log.Debug("script done", "action", action, "elapsed", res.Duration.Round(time.Millisecond), "output", lastLine(res.Output))
		return nil
	case res.ExitCode > 0 && !res.TimedOut:
		return fmt.Errorf("%s: %w", what, &errExit{code: res.ExitCode, tail: lastLine(res.Output)})
	}
	return fmt.Errorf("%s: %w", what, err)
}

// lastLine returns the last non-empty line of out, trimmed.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
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
