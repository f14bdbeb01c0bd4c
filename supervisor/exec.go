package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// State file names inside Config.StateDir.
const (
	stateFile  = "pbx.pid"
	outputFile = "pbx.out"
)

// execBackend starts the PBX as pbxha's child.
//
// The child's stdout and stderr go to StateDir/pbx.out (opened O_APPEND),
// not to pipes: a pipe's reader dies with pbxha, and the PBX would then get
// EPIPE or SIGPIPE on its next log line, while the PBX must outlive pbxha.
// A follower copies new lines of the file into pbxha's log (key
// pbx_output) for as long as pbxha runs. The child leads its own process
// group (Setpgid), so a Ctrl-C at pbxha's terminal does not reach it and a
// stop signals the PBX together with its helper processes.
type execBackend struct {
	cfg  Config
	cred cred
	log  *slog.Logger
}

func (b *execBackend) statePath() string { return filepath.Join(b.cfg.StateDir, stateFile) }
func (b *execBackend) outPath() string   { return filepath.Join(b.cfg.StateDir, outputFile) }

func (b *execBackend) target() string { return b.cfg.Command[0] }

// find adopts the child a previous pbxha started, if the state file names a
// live process with the recorded start time.
func (b *execBackend) find(context.Context) (*process, error) {
	r, ok, err := readRecord(b.statePath())
	if err != nil {
		// A damaged record cannot name a process: drop it, like a stale one.
		b.log.Warn("unreadable pbx state file, ignoring it", "err", err)
		_ = os.Remove(b.statePath())
		return nil, nil
	}
	if !ok {
		return nil, nil
	}
	p, err := watchPID(r.PID, r.StartTicks, true)
	if errors.Is(err, errGone) {
		_ = os.Remove(b.statePath())
		return nil, nil
	}
	return p, err
}

func (b *execBackend) start(context.Context) (*process, error) {
	if err := os.MkdirAll(b.cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	out, err := os.OpenFile(b.outPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("output file: %w", err)
	}
	defer out.Close()
	// Not exec.CommandContext: the PBX must outlive Run's context.
	cmd := exec.Command(b.cfg.Command[0], b.cfg.Command[1:]...)
	cmd.Env = append(os.Environ(), b.cfg.Env...)
	cmd.Dir = b.cfg.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if b.cred.set {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: b.cred.uid, Gid: b.cred.gid}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	p := &process{pid: pid, startedAt: time.Now(), group: true, done: make(chan struct{})}
	// The child cannot be reaped before Wait below, so its stat is there.
	if st, err := readStat(pid); err == nil {
		p.startTicks = st.StartTicks
	}
	p.signalLeader = func(sig unix.Signal) error { return cmd.Process.Signal(sig) }
	p.release = func() {} // the Wait goroutine must go on: it reaps the child
	go func() {
		err := cmd.Wait()
		p.exit = exitReason(cmd.ProcessState, err)
		close(p.done)
	}()
	if err := writeRecord(b.statePath(), record{PID: pid, StartTicks: p.startTicks, Command: b.cfg.Command}); err != nil {
		// The PBX runs; only adoption by a restarted pbxha is lost.
		b.log.Warn("cannot record the pbx pid; a restarted pbxha will not adopt it", "pid", pid, "err", err)
	}
	return p, nil
}

func (b *execBackend) stop(ctx context.Context, p *process) error {
	if p == nil {
		return nil
	}
	if err := terminate(ctx, p, b.cfg.StopTimeout); err != nil {
		return err
	}
	b.forget(p)
	return nil
}

func (b *execBackend) exited(p *process) { b.forget(p) }

// forget removes the state file once its process has exited.
func (b *execBackend) forget(p *process) {
	if r, ok, _ := readRecord(b.statePath()); ok && r.PID == p.pid {
		_ = os.Remove(b.statePath())
	}
}
