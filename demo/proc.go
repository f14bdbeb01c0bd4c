package demo

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/configs"
)

// child is a process the demo started (a test PBX or a pbxha node). The
// demo signals and stops it by PID only.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for
	err  error         // its exit, valid after done
	read chan struct{} // closed once its output has been read to the end
}

// startChild starts cmd in its own process group (so that a Ctrl-C reaches
// only the demo, which then stops its children in order), killed if the
// demo dies, with the PBXHA_ variables of the demo's environment removed (a
// stray PBXHA_NODE_NAME must not override the generated config). Every line
// the process writes to stdout or stderr goes to lines, from one goroutine.
func startChild(name string, cmd *exec.Cmd, lines func(string)) (*child, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = childEnv(os.Environ())
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("demo: start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("demo: start %s: %w", name, err)
	}
	w.Close()
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	c.read = make(chan struct{})
	go func() {
		defer close(c.read)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines(sc.Text())
		}
	}()
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// childEnv is env without PBXHA_ variables.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, configs.EnvPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

// pid returns the process's ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process unless it has ended.
func (c *child) signal(sig syscall.Signal) error {
	if c.exited() {
		return fmt.Errorf("demo: %s (pid %d) has exited: %v", c.name, c.pid(), c.err)
	}
	if err := c.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("demo: signal %s (pid %d): %w", c.name, c.pid(), err)
	}
	return nil
}

// stop asks the process to end (SIGTERM, after SIGCONT in case it is
// stopped), waits up to grace, then kills it, and waits for it and for its
// last lines.
func (c *child) stop(grace time.Duration) {
	if !c.exited() {
		_ = c.cmd.Process.Signal(syscall.SIGCONT)
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(grace):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	select {
	case <-c.read: // unless a process it started still holds the pipe
	case <-time.After(time.Second):
	}
}
