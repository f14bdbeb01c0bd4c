package testenv

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ProcStates returns the state letter of every thread of process pid, as
// /proc/PID/task/TID/stat shows it: 'R' running, 'S' sleeping, 'T' stopped
// by a signal, 'Z' zombie, and so on. It fails with an error wrapping
// os.ErrNotExist when the process is gone (reaped).
func ProcStates(pid int) ([]byte, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("testenv: process %d: %w", pid, err)
	}
	var states []byte
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("testenv: process %d: %w", pid, err)
		}
		st, err := statState(string(b))
		if err != nil {
			return nil, fmt.Errorf("testenv: process %d thread %s: %w", pid, e.Name(), err)
		}
		states = append(states, st)
	}
	if len(states) == 0 {
		return nil, fmt.Errorf("testenv: process %d: no threads: %w", pid, os.ErrNotExist)
	}
	return states, nil
}

// statState returns the state field of a /proc stat line: "pid (comm) S ...",
// where comm may hold spaces and parentheses.
func statState(line string) (byte, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 || i+2 >= len(line) {
		return 0, fmt.Errorf("stat %q: no state field", line)
	}
	return line[i+2], nil
}

// Stopped reports whether every thread of process pid is stopped by a
// signal (state T) and, when not, why: the thread states seen, or that the
// process is gone. Its shape fits WaitForReason.
func Stopped(pid int) (ok bool, why string) {
	states, err := ProcStates(pid)
	if err != nil {
		return false, err.Error()
	}
	for _, s := range states {
		if s != 'T' {
			return false, "thread states " + string(states)
		}
	}
	return true, ""
}

// WaitStopped waits up to within until every thread of process pid is
// stopped (state T). SIGSTOP is asynchronous: kill(2) returns before the
// target has stopped, and until it has, it may still answer a request.
func WaitStopped(t testing.TB, pid int, within time.Duration) {
	t.Helper()
	WaitForReason(t, within, fmt.Sprintf("process %d stopped (state T)", pid), func() (bool, string) { return Stopped(pid) })
}

// Freeze sends SIGSTOP to process pid and waits (up to 10s) until it has
// stopped, so that from its return the process cannot answer anything: a
// hung PBX, a hung database.
func Freeze(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("testenv: SIGSTOP to pid %d: %v", pid, err)
	}
	WaitStopped(t, pid, 10*time.Second)
}

// Thaw sends SIGCONT to process pid, undoing Freeze.
func Thaw(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatalf("testenv: SIGCONT to pid %d: %v", pid, err)
	}
}

// Exited reports whether process pid has ended: gone, or a zombie that its
// parent has not reaped yet.
func Exited(pid int) bool {
	states, err := ProcStates(pid)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	for _, s := range states {
		if s != 'Z' && s != 'X' {
			return false
		}
	}
	return true
}

// WaitExited waits up to within until process pid has ended (see Exited).
func WaitExited(t testing.TB, pid int, within time.Duration) {
	t.Helper()
	WaitForReason(t, within, fmt.Sprintf("process %d exited", pid), func() (bool, string) {
		if Exited(pid) {
			return true, ""
		}
		states, err := ProcStates(pid)
		if err != nil {
			return false, err.Error()
		}
		return false, "thread states " + string(states)
	})
}

// OpenFDs returns how many file descriptors process pid has open
// (os.Getpid() for the test's own).
func OpenFDs(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
