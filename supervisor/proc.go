package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procStat is what the supervisor reads from /proc/PID/stat.
type procStat struct {
	State      byte   // field 3: R, S, D, Z, T, ...
	PGID       int    // field 5
	StartTicks uint64 // field 22: start time in clock ticks after boot
}

// parseStat parses the text of /proc/PID/stat. The command name (field 2)
// is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || bytes.IndexByte(b, '(') < 0 {
		return procStat{}, errors.New("no (comm) field")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22-2 {
		return procStat{}, fmt.Errorf("%d fields after comm, want at least 20", len(f))
	}
	if len(f[0]) != 1 || f[0][0] < 'A' || f[0][0] > 'z' {
		return procStat{}, fmt.Errorf("state %q", f[0])
	}
	pgid, err := strconv.Atoi(f[5-3])
	if err != nil {
		return procStat{}, fmt.Errorf("pgrp: %w", err)
	}
	ticks, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("starttime: %w", err)
	}
	return procStat{State: f[0][0], PGID: pgid, StartTicks: ticks}, nil
}

// readStat reads /proc/PID/stat; an error wrapping os.ErrNotExist means no
// such process.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	st, err := parseStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// matches reports whether the process pid is the PBX: match is a substring
// of its command line (NULs read as spaces) or of its executable's path.
func matches(pid int, match string) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
		if strings.Contains(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), match) {
			return true
		}
	}
	if exe, err := os.Readlink(dir + "/exe"); err == nil && strings.Contains(exe, match) {
		return true
	}
	return false
}

// process is one PBX process the supervisor knows. done is closed once it
// has exited; exit then says how.
type process struct {
	pid        int
	startTicks uint64
	startedAt  time.Time
	group      bool // signal its whole process group (exec mode: it leads one)

	done chan struct{}
	exit string // set before done closes

	signalLeader func(unix.Signal) error
	release      func() // stops watching without touching the process
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process, or to its process group when it leads
// one. Nothing is sent once it has exited, so a reused pid is never hit.
func (p *process) signal(sig unix.Signal) error {
	if p.exited() {
		return nil
	}
	if p.group {
		if err := unix.Kill(-p.pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
		return nil
	}
	if err := p.signalLeader(sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// terminate stops p: SIGTERM (and SIGCONT, so a stopped process gets it),
// SIGKILL after timeout, and returns once it has exited or ctx ends.
func terminate(ctx context.Context, p *process, timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.signal(unix.SIGTERM); err != nil {
		return fmt.Errorf("sigterm pid %d: %w", p.pid, err)
	}
	_ = p.signal(unix.SIGCONT)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	if err := p.signal(unix.SIGKILL); err != nil {
		return fmt.Errorf("sigkill pid %d: %w", p.pid, err)
	}
	// SIGKILL cannot be caught; only a process stuck in the kernel (D
	// state) outlives it for long.
	t.Reset(max(timeout, killWait))
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pid %d: waiting after sigkill: %w", p.pid, ctx.Err())
	case <-t.C:
		return fmt.Errorf("pid %d survived sigkill for %v", p.pid, max(timeout, killWait))
	}
}

// killWait bounds the wait for a process to vanish after SIGKILL.
const killWait = 5 * time.Second

// errGone means the process to adopt no longer exists (or is another one).
var errGone = errors.New("no such process")

// watchPID adopts a running process that is not pbxha's child: it opens a
// pidfd and closes done when the pidfd turns readable (the process exited),
// through Go's poller, so no goroutine polls and release unblocks it.
// wantTicks, when non-zero, is the recorded /proc start time: a process that
// reused the pid has another one and is refused. Zombies count as gone.
func watchPID(pid int, wantTicks uint64, group bool) (*process, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, errGone
		}
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(pid))
	// Read the start time after the pidfd pins the pid: if it matches, the
	// pidfd refers to the recorded process.
	st, err := readStat(pid)
	if err != nil || st.State == 'Z' || st.State == 'X' || (wantTicks != 0 && st.StartTicks != wantTicks) {
		f.Close()
		return nil, errGone
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pidfd %d: %w", pid, err)
	}
	p := &process{
		pid:        pid,
		startTicks: st.StartTicks,
		startedAt:  startTime(st.StartTicks),
		group:      group && st.PGID == pid,
		done:       make(chan struct{}),
	}
	var closeOnce sync.Once
	p.release = func() { closeOnce.Do(func() { f.Close() }) }
	p.signalLeader = func(sig unix.Signal) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); err != nil {
			return err
		}
		return serr
	}
	go func() {
		err := rc.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 0)
			return err == nil && n > 0 // false: wait for readability
		})
		if err != nil {
			return // released: pbxha stops watching, the process lives on
		}
		p.exit = "exited (not pbxha's child: status unknown)"
		close(p.done)
		p.release()
	}()
	return p, nil
}

// startTime converts /proc start ticks into wall time (best effort).
func startTime(ticks uint64) time.Time {
	var info unix.Sysinfo_t
	if unix.Sysinfo(&info) != nil {
		return time.Now()
	}
	const hz = 100 // USER_HZ, fixed at 100 on Linux for /proc
	up := time.Duration(info.Uptime) * time.Second
	age := up - time.Duration(ticks)*time.Second/hz
	if age < 0 {
		age = 0
	}
	return time.Now().Add(-age).Truncate(time.Second)
}

// exitReason describes how a child ended: "exit status 1", "signal KILL".
func exitReason(ps *os.ProcessState, err error) string {
	if ps == nil {
		if err != nil {
			return "wait: " + err.Error()
		}
		return "unknown"
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return ps.String()
	}
	switch {
	case ws.Signaled():
		return "signal " + strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	}
	return ps.String()
}
