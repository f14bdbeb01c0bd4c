// Package mariadbtest starts real MariaDB servers for tests: a primary with
// binary logging and GTIDs, and replicas that replicate from it with GTID
// auto-positioning, on free loopback ports in throwaway directories (or on
// given addresses inside network namespaces, see Net), with helpers to run
// SQL, hang processes with SIGSTOP and stop servers.
//
// Every server starts from one data directory made once per test process
// with mariadb-install-db, which holds the users the tests use:
//
//   - pbxha (password pbxha): the grants docs/mysql.md lists for pbxha's
//     probe and role mover, and the pbxha database for the heartbeat;
//   - app (password app): SELECT, INSERT, UPDATE, DELETE on the pbx
//     database, as a PBX's own user (read_only stops its writes);
//   - admin (password admin): every privilege, for the helpers.
//
// Without the binaries the tests skip, or fail under CI=true (see
// internal/testenv).
package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
)

// StartTimeout bounds mariadb-install-db and a server's start-up.
const StartTimeout = 90 * time.Second

// Users and databases of every server.
const (
	PbxhaUser, PbxhaPassword, PbxhaDB = "pbxha", "pbxha", "pbxha"
	AppUser, AppPassword, AppDB       = "app", "app", "pbx"
	AdminUser, AdminPassword          = "admin", "admin"
)

// PbxhaGrants are the privileges of the pbxha user: what docs/mysql.md
// says pbxha needs on MariaDB 10.11.
var PbxhaGrants = []string{
	"GRANT PROCESS, RELOAD, BINLOG MONITOR, SLAVE MONITOR, READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, REPLICATION SLAVE ON *.* TO pbxha@'%'",
	"GRANT SELECT, INSERT, UPDATE, CREATE ON pbxha.* TO pbxha@'%'",
}

// Options tunes a server.
type Options struct {
	// Settings are extra mariadbd options ("--sync-binlog=1"), after the
	// harness defaults so they win. Replicas inherit them.
	Settings []string
	// Net places the server; the zero value is loopback on a free port.
	Net Net
	// DiskSize, when set (e.g. "256m"), puts the data directory on a tmpfs
	// of that size in a mount namespace of the server's own, so that
	// FillDisk can fill it. It needs root.
	DiskSize string
}

// Net says where a server runs and listens. The zero value is the test's
// own network namespace, 127.0.0.1, a free port.
type Net struct {
	// Namespace is a network namespace (ip netns) to run the server in; the
	// helpers connect from inside it. It needs root.
	Namespace string
	// Listen is bind-address, e.g. "0.0.0.0". Default: Host.
	Listen string
	// Host is the address the server is reached at: in DSN, by the helpers
	// and by its replicas. Default: 127.0.0.1.
	Host string
	// Port is the TCP port. Zero: a free port, found on loopback.
	Port int
}

func (n Net) withDefaults() Net {
	if n.Host == "" {
		n.Host = "127.0.0.1"
	}
	if n.Listen == "" {
		n.Listen = n.Host
	}
	return n
}

// Server is one running mariadbd.
type Server struct {
	Name     string // "primary", "replica1"...
	DataDir  string
	ServerID int
	Net      Net // where it runs; Net.Port is set once started
	Port     int

	env      *env
	settings []string
	diskSize string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	replica int // replicas started from this server
	db      *sql.DB
}

// env is what the servers of one StartPrimary share.
type env struct {
	bin  string // mariadbd
	root string // holds the data directories and logs
	ids  *int   // last server id given out
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// StartPrimary starts a primary: binary log, log_slave_updates, strict
// GTID mode, server id 1. Everything it starts is stopped and removed in
// t.Cleanup.
func StartPrimary(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Net.Namespace != "" {
		testenv.RequireRoot(t)
	}
	bin := Binary(t)
	root, err := os.MkdirTemp("", "mariadbtest-")
	if err != nil {
		t.Fatalf("mariadbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("mariadbtest: remove %s: %v", root, err)
		}
	})
	ids := 0
	e := &env{bin: bin, root: root, ids: &ids}
	if opts.DiskSize != "" {
		testenv.RequireRoot(t)
	}
	s := e.newServer(t, "primary", opts.Net, opts.Settings)
	s.diskSize = opts.DiskSize
	s.Start(t)
	return s
}

// StartReplica starts a new server (from the shared initial data
// directory) as a GTID replica of s: read_only, CHANGE MASTER TO s with
// MASTER_USE_GTID=slave_pos as the pbxha user, START SLAVE. At most one Net
// places it.
func (s *Server) StartReplica(t testing.TB, at ...Net) *Server {
	t.Helper()
	if len(at) > 1 {
		t.Fatalf("mariadbtest: start replica of %s: got %d Nets, want at most one", s.Name, len(at))
	}
	s.mu.Lock()
	s.replica++
	name := fmt.Sprintf("replica%d", s.replica)
	s.mu.Unlock()
	var n Net
	if len(at) == 1 {
		n = at[0]
	}
	if n.Namespace != "" {
		testenv.RequireRoot(t)
	}
	r := s.env.newServer(t, name, n, append(append([]string(nil), s.settings...), "--read-only=ON"))
	r.Start(t)
	r.ReplicateFrom(t, s)
	return r
}

// ReplicateFrom points r at source with GTID auto-positioning and starts
// replication.
func (s *Server) ReplicateFrom(t testing.TB, source *Server) {
	t.Helper()
	s.Exec(t, "STOP SLAVE")
	s.Exec(t, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
		"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1", source.Net.Host, source.Port, PbxhaUser, PbxhaPassword))
	s.Exec(t, "START SLAVE")
}

func (e *env) newServer(t testing.TB, name string, n Net, settings []string) *Server {
	t.Helper()
	tmpl := template(t, e.bin)
	*e.ids++
	s := &Server{Name: name, DataDir: filepath.Join(e.root, name), ServerID: *e.ids, Net: n.withDefaults(),
		env: e, settings: settings}
	s.Port = s.Net.Port
	if out, err := exec.Command("cp", "-a", tmpl, s.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("mariadbtest: copy the initial data directory: %v\n%s", err, out)
	}
	return s
}

// Binary returns the path of mariadbd (or mysqld). Missing, the test skips,
// or fails under CI.
func Binary(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"mariadbd", "mysqld"} {
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p
			}
		}
	}
	testenv.Unavailable(t, "MariaDB server binaries (mariadbd, mariadb-install-db) are not installed")
	return ""
}

// args are mariadbd's arguments.
func (s *Server) args() []string {
	a := []string{"--no-defaults", "--datadir=" + s.DataDir, "--port=" + strconv.Itoa(s.Port),
		"--bind-address=" + s.Net.Listen, "--socket=" + filepath.Join(s.DataDir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(s.DataDir, "mysqld.pid"), "--log-error=" + s.logPath(),
		"--server-id=" + strconv.Itoa(s.ServerID), "--log-bin=binlog", "--relay-log=relay", "--log-slave-updates=ON",
		"--gtid-strict-mode=ON", "--binlog-format=ROW", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
		"--innodb-flush-log-at-trx-commit=2", "--innodb-log-file-size=8M", "--performance-schema=OFF", "--max-connections=60"}
	if os.Geteuid() == 0 {
		a = append(a, "--user=root")
	}
	return append(a, s.settings...)
}

func (s *Server) logPath() string { return filepath.Join(s.env.root, s.Name+".log") }

// Log returns the server's error log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath())
	return string(b)
}

// Start starts the server and waits until it accepts connections: on a
// free port the first time, the same port after Stop. It is stopped in
// t.Cleanup.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		t.Fatalf("mariadbtest: start %s: already running", s.Name)
	}
	if s.Port == 0 {
		port, err := netlab.FreePort(netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			s.mu.Unlock()
			t.Fatalf("mariadbtest: %v", err)
		}
		s.Port, s.Net.Port = port, port
	}
	argv := append([]string{s.env.bin}, s.args()...)
	if s.diskSize != "" {
		// A tmpfs over the data directory, seen only by the server: the
		// data is copied in at every start (a restart starts afresh).
		script := `set -e; tmp=$(mktemp -d); cp -a "$1"/. "$tmp"; mount -t tmpfs -o size="$2" tmpfs "$1"; cp -a "$tmp"/. "$1"; rm -rf "$tmp"; shift 2; exec "$@"`
		argv = append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", s.DataDir, s.diskSize}, argv...)
	}
	if s.Net.Namespace != "" {
		argv = append([]string{"ip", "netns", "exec", s.Net.Namespace}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // an aborted run leaves no server behind
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		t.Fatalf("mariadbtest: start %s: %v", s.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	t.Cleanup(func() { s.Kill(t) })

	deadline := time.Now().Add(StartTimeout)
	for {
		if err := s.ping(); err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("mariadbtest: start %s: mariadbd exited (%v); log:\n%s", s.Name, cmd.ProcessState, s.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mariadbtest: start %s: not ready within %s; log:\n%s", s.Name, StartTimeout, s.Log())
		}
	}
}

func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.admin().PingContext(ctx)
}

// Stop shuts the server down cleanly (SIGTERM) and waits for it to exit.
// Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) { t.Helper(); s.stop(t, syscall.SIGTERM) }

// Kill kills the server (SIGKILL), as a crash, and waits for it to exit.
func (s *Server) Kill(t testing.TB) { t.Helper(); s.stop(t, syscall.SIGKILL) }

func (s *Server) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
	if s.cmd == nil {
		return
	}
	pid := s.pid()
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = syscall.Kill(pid, sig)
	}
	_ = s.cmd.Process.Signal(sig) // ip netns exec execs mariadbd: the same process
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		if pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		<-s.done
		t.Errorf("mariadbtest: stop %s: mariadbd lingered; killed", s.Name)
	}
	s.cmd, s.done = nil, nil
}

// pid is mariadbd's process id: the started command's (ip netns exec execs
// the server in place).
func (s *Server) pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// PID returns mariadbd's process id.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid()
}

// Signal sends sig to mariadbd; after SIGSTOP it returns once the process
// has stopped.
func (s *Server) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	pid := s.PID()
	if pid == 0 {
		t.Fatalf("mariadbtest: signal %s: not running", s.Name)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("mariadbtest: signal %s to %s: %v", sig, s.Name, err)
	}
	if sig == syscall.SIGSTOP {
		testenv.WaitForReason(t, 10*time.Second, fmt.Sprintf("mariadbtest: %s stopped by SIGSTOP", s.Name), func() (bool, string) {
			return testenv.Stopped(pid)
		})
	}
}

// FillDisk fills the tmpfs of a server started with Options.DiskSize
// until the disk is full; FreeDisk frees the space again.
func (s *Server) FillDisk(t testing.TB) {
	t.Helper()
	f, err := os.Create(s.fillPath(t))
	if err != nil {
		t.Fatalf("mariadbtest: fill the disk of %s: %v", s.Name, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := 0; i < 1<<14; i++ { // bounded: 16 GiB, far more than a test tmpfs
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("mariadbtest: fill the disk of %s: %v", s.Name, err)
		}
	}
	t.Fatalf("mariadbtest: fill the disk of %s: still not full", s.Name)
}

// FreeDisk removes what FillDisk wrote.
func (s *Server) FreeDisk(t testing.TB) {
	t.Helper()
	if err := os.Remove(s.fillPath(t)); err != nil {
		t.Fatalf("mariadbtest: free the disk of %s: %v", s.Name, err)
	}
}

// fillPath is the filler file, reached through the server's own mount
// namespace.
func (s *Server) fillPath(t testing.TB) string {
	if s.diskSize == "" {
		t.Fatalf("mariadbtest: %s has no disk of its own (Options.DiskSize)", s.Name)
	}
	return filepath.Join("/proc", strconv.Itoa(s.PID()), "root", s.DataDir, "filler")
}
