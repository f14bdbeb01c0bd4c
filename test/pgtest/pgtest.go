// Package pgtest starts real PostgreSQL clusters for tests: a primary and
// streaming standbys on free loopback ports in throwaway directories (or on
// given addresses inside network namespaces, see Net), with helpers to run
// SQL, hang processes with SIGSTOP and stop servers.
//
// PostgreSQL refuses to run as root, so under root the servers run as the
// "postgres" system user (created by Debian's postgresql package) and their
// directories belong to it. Without the binaries the tests skip, or fail
// under CI=true (see internal/testenv).
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
)

// StartTimeout bounds initdb, pg_basebackup and a server's start-up.
const StartTimeout = 90 * time.Second

// Options tunes a primary started by StartPrimary.
type Options struct {
	// Settings are extra postgresql.conf lines ("synchronous_commit = on"),
	// appended after the harness defaults so they win. Standbys inherit them.
	Settings []string
	// Fsync keeps fsync on; by default it is off to save time.
	Fsync bool
	// HBA are extra pg_hba.conf lines ("host all all 198.18.0.0/24
	// trust"), put before the defaults so they win. Standbys inherit them.
	HBA []string
	// Net places the primary; the zero value is loopback on a free port.
	Net Net
}

// Net says where a server runs and listens. The zero value is the test's
// own network namespace, 127.0.0.1, a free port.
type Net struct {
	// Namespace is a network namespace (ip netns) to run the server in,
	// with the tools that reach other servers from it (pg_basebackup); the
	// helpers (Exec, QueryRow...) connect from inside it. It needs root.
	// Such a server has no unix socket, so that servers in different
	// namespaces may share a port.
	Namespace string
	// Listen is listen_addresses, e.g. "*" or "198.18.0.11". Default:
	// Host.
	Listen string
	// Host is the address the server is reached at: in DSN, by the
	// helpers, and by a standby's pg_basebackup and primary_conninfo.
	// Default: 127.0.0.1.
	Host string
	// Port is the TCP port. Zero: a free port, found on loopback.
	Port int
}

// withDefaults fills the empty fields.
func (n Net) withDefaults() Net {
	if n.Host == "" {
		n.Host = "127.0.0.1"
	}
	if n.Listen == "" {
		n.Listen = n.Host
	}
	return n
}

// Cluster is one running PostgreSQL server (postmaster and its children).
type Cluster struct {
	Name    string // "primary", "standby1"...
	DataDir string
	Port    int
	Net     Net // where it runs; Port is Net.Port once started

	env     *env
	primary *Cluster // the upstream of a standby, nil for a primary

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the postmaster has exited
	standby int           // standbys started from this cluster
}

// env is what every cluster of one StartPrimary shares.
type env struct {
	bin  string // directory of initdb, postgres, pg_basebackup
	root string // directory holding the data dirs and logs
	cred *syscall.Credential
	uid  int
	gid  int
}

// StartPrimary initialises and starts a primary configured for streaming
// replication. Everything it starts is stopped and removed in t.Cleanup.
func StartPrimary(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Net.Namespace != "" {
		testenv.RequireRoot(t)
	}
	e := newEnv(t)
	c := &Cluster{Name: "primary", DataDir: filepath.Join(e.root, "primary"), env: e, Net: opts.Net.withDefaults()}
	c.Port = c.Net.Port
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if out, err := e.command(ctx, "", "initdb", "-D", c.DataDir, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb %s: %v\n%s", c.DataDir, err, out)
	}
	if len(opts.HBA) > 0 {
		c.prependHBA(t, opts.HBA...)
	}
	conf := []string{
		"listen_addresses = '" + c.Net.Listen + "'",
		"unix_socket_directories = '" + c.socketDir() + "'",
		"shared_buffers = 16MB",
		"max_connections = 40",
		"autovacuum = off",
		"wal_level = replica",
		"max_wal_senders = 8",
		"max_replication_slots = 8",
		"hot_standby = on",
		"wal_receiver_status_interval = 1s",
		"log_min_messages = warning",
		"log_line_prefix = '%m [%p] '",
	}
	if !opts.Fsync {
		conf = append(conf, "fsync = off", "full_page_writes = off", "synchronous_commit = off")
	}
	conf = append(conf, opts.Settings...)
	c.appendConf(t, conf...)
	c.Start(t)
	return c
}

// StartStandby clones c with pg_basebackup -R and starts the clone as a
// streaming standby of c, named standby1, standby2... (its cluster_name, so
// also its application_name in c's pg_stat_replication). At most one Net
// places it (default: loopback, a free port); pg_basebackup runs in its
// namespace and reaches c at c.Net.Host.
func (c *Cluster) StartStandby(t testing.TB, at ...Net) *Cluster {
	t.Helper()
	if len(at) > 1 {
		t.Fatalf("pgtest: start standby of %s: got %d Nets, want at most one", c.Name, len(at))
	}
	c.mu.Lock()
	c.standby++
	name := fmt.Sprintf("standby%d", c.standby)
	c.mu.Unlock()
	s := &Cluster{Name: name, DataDir: filepath.Join(c.env.root, name), env: c.env, primary: c}
	if len(at) == 1 {
		s.Net = at[0]
	}
	if s.Net.Namespace != "" {
		testenv.RequireRoot(t)
	}
	s.Net = s.Net.withDefaults()
	s.Port = s.Net.Port
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if out, err := c.env.command(ctx, s.Net.Namespace, "pg_basebackup", "-h", c.Net.Host, "-p", strconv.Itoa(c.Port),
		"-U", "postgres", "-D", s.DataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("pgtest: pg_basebackup of %s into %s: %v\n%s", c.Name, s.DataDir, err, out)
	}
	s.appendConf(t, "cluster_name = '"+name+"'",
		"listen_addresses = '"+s.Net.Listen+"'",
		"unix_socket_directories = '"+s.socketDir()+"'")
	s.Start(t)
	return s
}

// socketDir is unix_socket_directories: the shared directory, or none for
// a server in a namespace (servers of different namespaces may share a
// port, and their socket files would clash).
func (c *Cluster) socketDir() string {
	if c.Net.Namespace != "" {
		return ""
	}
	return c.env.root
}

// Start starts the server and waits until it accepts connections: on a free
// port the first time, on the same port again after Stop. StartPrimary and
// StartStandby call it; call it after Stop to restart the same data
// directory. The server is stopped in t.Cleanup.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		t.Fatalf("pgtest: start %s: already running", c.Name)
	}
	if c.Port == 0 {
		port, err := netlab.FreePort(netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		c.Port = port
		c.Net.Port = c.Port
	}
	logf, err := os.OpenFile(filepath.Join(c.env.root, c.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("pgtest: start %s: %v", c.Name, err)
	}
	defer logf.Close()
	cmd := c.env.command(context.Background(), c.Net.Namespace, "postgres", "-D", c.DataDir, "-p", strconv.Itoa(c.Port))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT // an aborted test run leaves no server behind
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgtest: start %s: %v", c.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.cmd, c.done = cmd, done
	t.Cleanup(func() {
		c.stop(t, syscall.SIGQUIT)
		c.stopOthers(t)
	})

	deadline := time.Now().Add(StartTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.readyLocked() {
			return
		}
		select {
		case <-done:
			t.Fatalf("pgtest: start %s: postgres exited (%v); log:\n%s", c.Name, cmd.ProcessState, c.Log())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: start %s: not ready within %s; log:\n%s", c.Name, StartTimeout, c.Log())
		}
	}
}

// readyLocked reports whether postmaster.pid says "ready" for this postmaster
// (PostgreSQL 10 and later write the state on line 8).
func (c *Cluster) readyLocked() bool {
	b, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 || strings.TrimSpace(lines[0]) != strconv.Itoa(c.cmd.Process.Pid) {
		return false
	}
	return strings.TrimSpace(lines[7]) == "ready"
}

// Stop shuts the server down at once (immediate mode, like pg_ctl stop -m
// immediate) and waits until the postmaster has exited. Stopping a stopped
// cluster does nothing.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.stop(t, syscall.SIGQUIT)
}

// StopFast shuts the server down cleanly (pg_ctl stop -m fast).
func (c *Cluster) StopFast(t testing.TB) {
	t.Helper()
	c.stop(t, syscall.SIGINT)
}

func (c *Cluster) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	select {
	case <-c.done:
		// It exited (e.g. stopped by pg_ctl): its PID may be reused.
		c.cmd, c.done = nil, nil
		return
	default:
	}
	pid := c.cmd.Process.Pid
	// A hung cluster must be woken to shut down.
	for _, p := range append(children(pid), pid) {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
	_ = syscall.Kill(pid, sig)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		kids := children(pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for _, p := range kids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		<-c.done
		t.Errorf("pgtest: stop %s: postmaster %d lingered; killed", c.Name, pid)
	}
	c.cmd, c.done = nil, nil
}

// stopOthers stops a postmaster that runs in the data directory though
// pgtest did not start it (a demote script restarted the server with
// pg_ctl), by the PID in postmaster.pid, so that the directory can be
// removed. It only signals a live process whose program is postgres.
func (c *Cluster) stopOthers(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 1 || !isPostgres(pid) {
		return
	}
	for _, p := range append(children(pid), pid) {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	deadline := time.Now().Add(30 * time.Second)
	for isPostgres(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("pgtest: stop %s: postmaster %d started outside pgtest lingered; killed", c.Name, pid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isPostgres reports whether pid is a live (not zombie) postgres process.
func isPostgres(pid int) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil || filepath.Base(exe) != "postgres" {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// PID returns the postmaster's process id, read from postmaster.pid.
func (c *Cluster) PID(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		t.Fatalf("pgtest: pid of %s: %v", c.Name, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("pgtest: pid of %s: postmaster.pid: %v", c.Name, err)
	}
	return pid
}

// Scope selects the processes Signal reaches.
type Scope int

// Scopes of Signal.
const (
	Postmaster Scope = iota // the postmaster only
	Whole                   // the postmaster and all its children (backends, walwriter...)
)

// Signal sends sig to the postmaster, or to every process of the cluster.
// SIGSTOP on Whole hangs the server completely; on Postmaster it only stops
// new connections from being accepted. After SIGSTOP, Signal returns once
// the processes have stopped.
func (c *Cluster) Signal(t testing.TB, sig syscall.Signal, scope Scope) {
	t.Helper()
	pid := c.PID(t)
	pids := []int{pid}
	if scope == Whole {
		pids = append(pids, children(pid)...)
	}
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("pgtest: signal %s to %s pid %d: %v", sig, c.Name, p, err)
		}
	}
	if sig != syscall.SIGSTOP {
		return
	}
	// SIGSTOP is asynchronous: wait until each process has stopped (or
	// ended meanwhile, as a backend may), so the server is hung on return.
	for _, p := range pids {
		testenv.WaitForReason(t, 10*time.Second, fmt.Sprintf("pgtest: %s pid %d stopped by SIGSTOP", c.Name, p), func() (bool, string) {
			if testenv.Exited(p) {
				return true, ""
			}
			return testenv.Stopped(p)
		})
	}
}

// children lists the direct children of pid from /proc.
func children(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	sort.Ints(out)
	return out
}

// prependHBA puts lines at the top of pg_hba.conf.
func (c *Cluster) prependHBA(t testing.TB, lines ...string) {
	t.Helper()
	path := filepath.Join(c.DataDir, "pg_hba.conf")
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", c.Name, err)
	}
	b := []byte("# pgtest\n" + strings.Join(lines, "\n") + "\n\n")
	if err := os.WriteFile(path, append(b, old...), 0o600); err != nil {
		t.Fatalf("pgtest: %s: %v", c.Name, err)
	}
}

// appendConf appends lines to postgresql.conf.
func (c *Cluster) appendConf(t testing.TB, lines ...string) {
	t.Helper()
	path := filepath.Join(c.DataDir, "postgresql.conf")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", c.Name, err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "\n# pgtest")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("pgtest: %s: %v", c.Name, err)
	}
}

// newEnv finds the binaries and makes the directory for one set of clusters.
func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{bin: BinDir(t), uid: os.Getuid(), gid: os.Getgid()}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Unavailable(t, "running as root and no postgres system user to run PostgreSQL as")
		}
		e.uid, _ = strconv.Atoi(u.Uid)
		e.gid, _ = strconv.Atoi(u.Gid)
		e.cred = &syscall.Credential{Uid: uint32(e.uid), Gid: uint32(e.gid)}
	}
	// Not t.TempDir: under root that is 0700 and the postgres user could not
	// enter it.
	root, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("pgtest: remove %s: %v", root, err)
		}
	})
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := os.Chown(root, e.uid, e.gid); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	e.root = root
	return e
}

// BinDir locates the PostgreSQL server binaries: pg_config --bindir, else
// the newest /usr/lib/postgresql/*/bin. Missing binaries skip the test, or
// fail it under CI (testenv.Unavailable).
func BinDir(t testing.TB) string {
	t.Helper()
	has := func(dir string) bool {
		fi, err := os.Stat(filepath.Join(dir, "postgres"))
		return err == nil && !fi.IsDir()
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	for _, d := range dirs {
		if has(d) {
			return d
		}
	}
	testenv.Unavailable(t, "PostgreSQL server binaries (initdb, postgres) are not installed")
	return ""
}

// pgMajor returns the version number in /usr/lib/postgresql/N/bin.
func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// command prepares a PostgreSQL program to run as the server's user, in
// the network namespace ns when it is not empty.
func (e *env) command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	argv := append([]string{filepath.Join(e.bin, name)}, args...)
	cred := e.cred
	if ns != "" {
		// ip netns exec needs root; setpriv drops to the owner after it and
		// keeps the parent-death signal, which a credential change clears.
		pre := []string{"ip", "netns", "exec", ns}
		if cred != nil {
			pre = append(pre, "setpriv", "--reuid="+strconv.Itoa(e.uid), "--regid="+strconv.Itoa(e.gid),
				"--init-groups", "--pdeathsig=QUIT", "--")
		}
		argv, cred = append(pre, argv...), nil
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGHOST="+e.root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd
}

// AsOwner returns argv prefixed to run as the clusters' owner: the postgres
// user when the tests run as root (PostgreSQL refuses to run as root), else
// argv unchanged.
func AsOwner(t testing.TB, argv ...string) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		return argv
	}
	runuser := testenv.LookPath(t, "runuser", "/usr/sbin", "/sbin")
	return append([]string{runuser, "-u", "postgres", "--"}, argv...)
}
