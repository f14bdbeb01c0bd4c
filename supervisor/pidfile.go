package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pidfileEvery is how often a start waits-and-looks for the pidfile to name
// the new PBX. Only starts poll; a death is noticed through the pidfd.
const pidfileEvery = 20 * time.Millisecond

// pidfileBackend watches a PBX that someone else starts and that writes a
// pidfile, and restarts it with the configured commands.
type pidfileBackend struct {
	cfg  Config
	log  *slog.Logger
	dead bool // the PBX died on its own: run StopCommand before the next start
}

func (b *pidfileBackend) target() string { return b.cfg.PIDFile }

// parsePIDFile reads the first line of a pidfile as a pid.
func parsePIDFile(b []byte) (int, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("not a pid: %q", truncate(line, 40))
	}
	if pid <= 1 {
		return 0, fmt.Errorf("pid %d is not a PBX", pid)
	}
	return pid, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// find returns the PBX if the pidfile names a live process that matches.
func (b *pidfileBackend) find(context.Context) (*process, error) {
	raw, err := os.ReadFile(b.cfg.PIDFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pid, err := parsePIDFile(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.cfg.PIDFile, err)
	}
	st, err := readStat(pid)
	if err != nil || !matches(pid, b.cfg.Match) {
		return nil, nil // stale pidfile, or the pid now belongs to another program
	}
	p, err := watchPID(pid, st.StartTicks, false)
	if errors.Is(err, errGone) {
		return nil, nil
	}
	return p, err
}

// start runs StartCommand and waits until the pidfile names a new live PBX.
func (b *pidfileBackend) start(ctx context.Context) (*process, error) {
	if b.dead && len(b.cfg.StopCommand) > 0 {
		// Best effort: lets the PBX's own scripts clean up locks and the
		// stale pidfile of the process that died.
		if err := b.runCommand(ctx, "stop command", b.cfg.StopCommand, b.cfg.StopTimeout); err != nil {
			b.log.Warn("stop command before restart failed", "err", err)
		}
	}
	b.dead = false
	ctx, cancel := context.WithTimeout(ctx, b.cfg.StartTimeout)
	defer cancel()
	if err := b.runCommand(ctx, "start command", b.cfg.StartCommand, b.cfg.StartTimeout); err != nil {
		return nil, err
	}
	t := time.NewTicker(pidfileEvery)
	defer t.Stop()
	for {
		p, err := b.find(ctx)
		if p != nil {
			return p, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("no live matching pid")
			}
			return nil, fmt.Errorf("pidfile %s after start command: %w (waited %v)", b.cfg.PIDFile, err, b.cfg.StartTimeout)
		case <-t.C:
		}
	}
}

// stop runs StopCommand (bounded by StopTimeout), then makes sure with
// SIGTERM and SIGKILL that the process is gone.
func (b *pidfileBackend) stop(ctx context.Context, p *process) error {
	if len(b.cfg.StopCommand) > 0 {
		if err := b.runCommand(ctx, "stop command", b.cfg.StopCommand, b.cfg.StopTimeout); err != nil {
			b.log.Warn("stop command failed; signalling the pbx", "err", err)
		}
	}
	if p == nil {
		return nil
	}
	if len(b.cfg.StopCommand) > 0 {
		t := time.NewTimer(b.cfg.StopTimeout)
		defer t.Stop()
		select {
		case <-p.done:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return terminate(ctx, p, b.cfg.StopTimeout)
}

func (b *pidfileBackend) exited(*process) { b.dead = true }

// runCommand runs argv to its end, bounded by timeout. Its output goes to
// StateDir/pbx.out when there is a StateDir, else nowhere: never to a pipe,
// which a PBX started in the background would inherit and hold open.
func (b *pidfileBackend) runCommand(ctx context.Context, what string, argv []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = time.Second
	if b.cfg.StateDir != "" {
		if err := os.MkdirAll(b.cfg.StateDir, 0o750); err == nil {
			if out, err := os.OpenFile(filepath.Join(b.cfg.StateDir, outputFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640); err == nil {
				defer out.Close()
				cmd.Stdout, cmd.Stderr = out, out
			}
		}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", what, argv[0], err)
	}
	return nil
}
