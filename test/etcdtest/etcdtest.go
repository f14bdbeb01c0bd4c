// Package etcdtest runs throwaway etcd clusters for tests: one or more
// members of Debian's etcd-server, each with its own data directory under
// the test's temporary directory, on free loopback ports (or on given
// addresses inside network namespaces), stopped by PID when the test ends.
// Members can be stopped, started again, frozen (SIGSTOP) and thawed.
package etcdtest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// Options shape a cluster. The zero Options is one member on 127.0.0.1.
type Options struct {
	// Hosts are the members' addresses, one per member (default one
	// member on 127.0.0.1). Loopback members get free ports; others use
	// 2379 (clients) and 2380 (peers).
	Hosts []string
	// Command makes the command that runs member i's etcd (nil:
	// exec.Command): a namespace host's Command.
	Command func(i int, name string, args ...string) *exec.Cmd
	// Heartbeat and Election are etcd's --heartbeat-interval and
	// --election-timeout (default 100ms and 500ms: its minimum lease TTL
	// is then 1s, (3 × election/heartbeat / 2) × heartbeat rounded up to
	// a second).
	Heartbeat, Election time.Duration
}

// Member is one etcd member.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	Dir       string // data directory
	log       string // its output

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Cluster is a running etcd cluster.
type Cluster struct {
	t       testing.TB
	opts    Options
	bin     string
	Members []*Member
	initial string // --initial-cluster
}

// Start starts a cluster and waits until every member serves clients; it
// skips or fails (testenv.Unavailable) without etcd installed.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := testenv.LookPath(t, "etcd")
	if len(opts.Hosts) == 0 {
		opts.Hosts = []string{"127.0.0.1"}
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 100 * time.Millisecond
	}
	if opts.Election == 0 {
		opts.Election = 500 * time.Millisecond
	}
	c := &Cluster{t: t, opts: opts, bin: bin}
	dir := t.TempDir()
	var initial []string
	for i, h := range opts.Hosts {
		m := &Member{Name: fmt.Sprintf("etcd%d", i+1), Dir: filepath.Join(dir, fmt.Sprintf("etcd%d", i+1))}
		m.log = m.Dir + ".log"
		client, peer := h+":2379", h+":2380"
		if a, err := netip.ParseAddr(h); err == nil && a.IsLoopback() {
			client, peer = testenv.FreeAddrOn(t, h), testenv.FreeAddrOn(t, h)
		}
		m.ClientURL, m.PeerURL = "http://"+client, "http://"+peer
		initial = append(initial, m.Name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(c.stopAll)
	for i := range c.Members {
		c.start(i, "new")
	}
	for i := range c.Members {
		c.WaitReady(i, 30*time.Second)
	}
	return c
}

// Endpoints returns every member's client URL.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// start starts member i with --initial-cluster-state state.
func (c *Cluster) start(i int, state string) {
	c.t.Helper()
	m := c.Members[i]
	args := []string{
		"--name", m.Name, "--data-dir", m.Dir,
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", c.initial, "--initial-cluster-state", state, "--initial-cluster-token", "pbxha-test",
		"--heartbeat-interval", fmt.Sprint(c.opts.Heartbeat.Milliseconds()),
		"--election-timeout", fmt.Sprint(c.opts.Election.Milliseconds()),
		"--logger", "zap", "--log-outputs", "stderr",
	}
	var cmd *exec.Cmd
	if c.opts.Command != nil {
		cmd = c.opts.Command(i, c.bin, args...)
	} else {
		cmd = exec.Command(c.bin, args...)
	}
	out, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		c.t.Fatalf("etcdtest: %s: %v", m.Name, err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Keep etcd's own environment variables from the caller out.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ETCD_UNSUPPORTED_ARCH=" + os.Getenv("ETCD_UNSUPPORTED_ARCH")}
	if err := cmd.Start(); err != nil {
		out.Close()
		c.t.Fatalf("etcdtest: start %s: %v", m.Name, err)
	}
	out.Close()
	m.mu.Lock()
	m.cmd = cmd
	m.mu.Unlock()
	go func() { _ = cmd.Wait() }()
}

// WaitReady waits until member i says it serves clients ("serving client
// traffic", which etcd 3.4 logs once it has joined and published itself).
func (c *Cluster) WaitReady(i int, within time.Duration) {
	c.t.Helper()
	m := c.Members[i]
	testenv.WaitForReason(c.t, within, m.Name+" ready", func() (bool, string) {
		b, _ := os.ReadFile(m.log)
		if bytes.Contains(b, []byte("ready to serve client requests")) || bytes.Contains(b, []byte("serving client traffic")) {
			return true, ""
		}
		return false, lastLine(b)
	})
}

// PID returns member i's process ID (0 when stopped).
func (c *Cluster) PID(i int) int {
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Stop kills member i (SIGKILL to its process group) and waits until it
// is gone.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	m := c.Members[i]
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	testenv.WaitFor(c.t, 10*time.Second, m.Name+" gone", func() bool {
		return syscall.Kill(pid, 0) != nil
	})
}

// Restart starts a stopped member i again on its data directory and
// waits until it serves clients.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.start(i, "existing")
	c.WaitReady(i, 30*time.Second)
}

// Freeze stops member i with SIGSTOP: it neither answers nor closes its
// connections, like a host that hangs. Thaw continues it.
func (c *Cluster) Freeze(i int) { c.signal(i, syscall.SIGSTOP) }

// Thaw continues a frozen member i.
func (c *Cluster) Thaw(i int) { c.signal(i, syscall.SIGCONT) }

func (c *Cluster) signal(i int, sig syscall.Signal) {
	c.t.Helper()
	pid := c.PID(i)
	if pid == 0 {
		c.t.Fatalf("etcdtest: %s is not running", c.Members[i].Name)
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		c.t.Fatalf("etcdtest: %s: %v: %v", c.Members[i].Name, sig, err)
	}
}

// Log returns member i's output.
func (c *Cluster) Log(i int) string {
	b, _ := os.ReadFile(c.Members[i].log)
	return string(b)
}

// stopAll kills every member.
func (c *Cluster) stopAll() {
	for i := range c.Members {
		m := c.Members[i]
		m.mu.Lock()
		cmd := m.cmd
		m.cmd = nil
		m.mu.Unlock()
		if cmd != nil && cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

// lastLine returns the last non-empty line of b, for wait reasons.
func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) == 0 {
		return "no output yet"
	}
	l := string(lines[len(lines)-1])
	if len(l) > 200 {
		l = l[:200]
	}
	return l
}
