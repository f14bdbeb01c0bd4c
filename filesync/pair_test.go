package filesync_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/filesync"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/netns"
)

// checkEnv makes the test binary the daemon's pre-xfer check (see
// TestMain), as `pbxha sync check-source` is in production.
const checkEnv = "FILESYNC_TEST_CHECK_SOURCE"

// TestMain runs the source check when the rsync daemon calls the test
// binary as its pre-xfer exec: --marker NAME, --require-mount, the
// directory in RSYNC_MODULE_PATH. It prints why a source is refused and
// exits 1, as `pbxha sync check-source` does.
func TestMain(m *testing.M) {
	if os.Getenv(checkEnv) == "1" {
		var marker string
		mount := false
		args := os.Args[1:]
		for i := 0; i < len(args); i++ {
			switch args[i] {
			case "--marker":
				if i+1 < len(args) {
					marker = args[i+1]
					i++
				}
			case "--require-mount":
				mount = true
			}
		}
		if err := filesync.CheckSource(os.Getenv("RSYNC_MODULE_PATH"), marker, mount); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// node is one side of a sync pair in a namespace.
type node struct {
	name  string
	host  *netns.Host
	dir   string // its directory: source while primary, destination while standby
	roles atomic.Pointer[filesync.Roles]
	s     *filesync.Syncer

	mu     sync.Mutex
	events []event.Event
}

func (n *node) setRole(self, peer failover.Role) {
	other := "n2"
	if n.name == "n2" {
		other = "n1"
	}
	n.roles.Store(&filesync.Roles{Self: self, PeerName: other, PeerAlive: true, PeerRole: peer})
}

func (n *node) eventsOf(kind string) []event.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []event.Event
	for _, e := range n.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (n *node) dirStatus() control.SyncDir { return n.s.Status().Directories[0] }

// syncPair is two nodes in namespaces n1 and n2 with one directory
// "recordings", n1 primary and n2 standby.
type syncPair struct {
	n1, n2 *node
}

// pairOpts shape a syncPair's one directory.
type pairOpts struct {
	dir       filesync.Dir // Name, Source and Destination are set by newPair
	ioTimeout time.Duration
	src       string // n1's directory; "" a new temporary one
	dst       string // n2's directory; "" a new temporary one
}

func newPair(t testing.TB, o pairOpts) *syncPair {
	t.Helper()
	testenv.LookPath(t, "rsync")
	topo := netns.New(t, netns.Options{Hosts: []string{"n1", "n2"}})
	tmp := t.TempDir()
	secrets := filepath.Join(tmp, "secrets")
	if err := os.WriteFile(secrets, []byte("pbxha:"+rand.Text()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := []byte(rand.Text() + rand.Text())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &syncPair{}
	for _, name := range []string{"n1", "n2"} {
		h := topo.Host(name)
		n := &node{name: name, host: h, dir: filepath.Join(tmp, name+"-recordings")}
		if name == "n1" && o.src != "" {
			n.dir = o.src
		}
		if name == "n2" && o.dst != "" {
			n.dir = o.dst
		}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		peer := topo.Host("n2")
		if name == "n2" {
			peer = topo.Host("n1")
		}
		d := o.dir
		d.Name, d.Source, d.Destination = "recordings", n.dir, n.dir
		cfg := filesync.Config{
			Node: name, Listen: netip.AddrPortFrom(h.IP, 8873), Peer: netip.AddrPortFrom(peer.IP, 8873),
			SecretsFile: secrets, Key: key, StateDir: filepath.Join(tmp, name+"-state"),
			LagAlert: 3 * time.Second, IOTimeout: o.ioTimeout, Dirs: []filesync.Dir{d},
		}
		ns := h.NS
		n.s, err = filesync.New(cfg, filesync.Options{
			Roles:        func() filesync.Roles { return *n.roles.Load() },
			CheckCommand: []string{"env", checkEnv + "=1", exe},
			Command: func(ctx context.Context, name string, args ...string) *exec.Cmd {
				// nsenter enters the network namespace only: ip netns exec would
				// also give the process a mount namespace of its own, where the
				// test's umount of a source would not be seen.
				return exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns, "--", name}, args...)...)
			},
			ListenPacket: func(network, addr string) (c net.PacketConn, err error) {
				err = h.Do(func() error { c, err = net.ListenPacket(network, addr); return err })
				return c, err
			},
			OnEvent: func(e event.Event) { n.mu.Lock(); n.events = append(n.events, e); n.mu.Unlock() },
			Logger:  testLogger(t, name),
		})
		if err != nil {
			t.Fatal(err)
		}
		if name == "n1" {
			p.n1 = n
			n.setRole(failover.RolePrimary, failover.RoleStandby)
		} else {
			p.n2 = n
			n.setRole(failover.RoleStandby, failover.RolePrimary)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = n.s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return p
}

// write puts a file of size random bytes at dir/name and returns them.
func write(t testing.TB, dir, name string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// sameFile reports whether dir/name holds want.
func sameFile(dir, name string, want []byte) (bool, string) {
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return false, err.Error()
	}
	if !bytes.Equal(got, want) {
		return false, fmt.Sprintf("%d bytes, differing", len(got))
	}
	return true, ""
}

// okRuns waits until n's directory has had runs complete pulls or more.
func okRuns(t testing.TB, n *node, within time.Duration, what string, cond func(control.SyncDir) bool) control.SyncDir {
	t.Helper()
	var st control.SyncDir
	testenv.WaitForReason(t, within, what, func() (bool, string) {
		st = n.dirStatus()
		return cond(st), fmt.Sprintf("state %s, runs %d, failures %d, last error %q", st.State, st.Runs, st.Failures, st.LastError)
	})
	return st
}

// TestSyncFollowsRole: files written on the primary appear on the standby
// (at once after a change, through the change notice, though the interval
// is a minute), a deletion follows, and after a switchover the direction
// flips: the new standby pulls from the new primary.
func TestSyncFollowsRole(t *testing.T) {
	p := newPair(t, pairOpts{dir: filesync.Dir{Watch: true, Marker: filesync.DefaultMarker, Interval: time.Minute}})
	write(t, p.n1.dir, filesync.DefaultMarker, 0)
	a := write(t, p.n1.dir, "2026/03/a.wav", 200<<10)
	b := write(t, p.n1.dir, "b.wav", 10<<10)
	testenv.WaitForReason(t, 20*time.Second, "a.wav and b.wav on n2", func() (bool, string) {
		if ok, why := sameFile(p.n2.dir, "2026/03/a.wav", a); !ok {
			return false, why
		}
		return sameFile(p.n2.dir, "b.wav", b)
	})
	okRuns(t, p.n2, 10*time.Second, "n2's pull complete", func(s control.SyncDir) bool { return s.State == "ok" && s.LastSuccess != nil })
	if st := p.n2.s.Status(); st.Direction != "pull" {
		t.Errorf("n2 direction: got %s (%s), want pull", st.Direction, st.Reason)
	}
	if st := p.n1.s.Status(); st.Direction != "serve" {
		t.Errorf("n1 direction: got %s (%s), want serve", st.Direction, st.Reason)
	}

	// A change and a deletion on the primary reach the standby within
	// seconds, long before the minute's interval: the change notice.
	c := write(t, p.n1.dir, "c.wav", 1000)
	if err := os.Remove(filepath.Join(p.n1.dir, "b.wav")); err != nil {
		t.Fatal(err)
	}
	testenv.WaitForReason(t, 15*time.Second, "c.wav on n2 and b.wav gone", func() (bool, string) {
		if _, err := os.Stat(filepath.Join(p.n2.dir, "b.wav")); err == nil {
			return false, "b.wav still there"
		}
		return sameFile(p.n2.dir, "c.wav", c)
	})

	// Switchover: n2 primary, n1 standby. n2 stops pulling and serves; a
	// file written on n2 reaches n1.
	p.n2.setRole(failover.RolePrimary, failover.RoleStandby)
	p.n1.setRole(failover.RoleStandby, failover.RolePrimary)
	p.n2.s.Poke()
	p.n1.s.Poke()
	// The new primary takes calls once it took over: by then it stopped
	// pulling.
	testenv.WaitFor(t, 5*time.Second, "n2 serving", func() bool {
		st := p.n2.s.Status()
		return st.Direction == "serve" && st.Directories[0].State != "syncing"
	})
	d := write(t, p.n2.dir, "d.wav", 5000)
	testenv.WaitForReason(t, 20*time.Second, "d.wav on n1, pulled from n2", func() (bool, string) { return sameFile(p.n1.dir, "d.wav", d) })
	if st := p.n2.s.Status(); st.Direction != "serve" {
		t.Errorf("n2 direction after the switchover: got %s (%s), want serve", st.Direction, st.Reason)
	}
	if st := p.n1.s.Status(); st.Direction != "pull" || !strings.Contains(st.Reason, "n2") {
		t.Errorf("n1 after the switchover: got %s (%s), want pull from n2", st.Direction, st.Reason)
	}

	// Neither moves while isolated or in maintenance.
	for _, r := range []filesync.Roles{
		{Self: failover.RoleStandby, PeerName: "n2", PeerAlive: false, PeerRole: failover.RolePrimary},
		{Self: failover.RoleStandby, PeerName: "n2", PeerAlive: true, PeerRole: failover.RolePrimary, Maintenance: true},
	} {
		p.n1.roles.Store(&r)
		testenv.WaitFor(t, 5*time.Second, "n1 idle", func() bool { return p.n1.s.Status().Direction == "idle" })
	}
}

// TestSyncBandwidthCap: N bytes at a cap of C KiB/s take about N/C.
func TestSyncBandwidthCap(t *testing.T) {
	const size, capKiB = 3 << 20, 1024
	src := t.TempDir()
	write(t, src, filesync.DefaultMarker, 0)
	want := write(t, src, "big.wav", size)
	p := newPair(t, pairOpts{dir: filesync.Dir{BWLimit: capKiB, Marker: filesync.DefaultMarker}, src: src})
	st := okRuns(t, p.n2, 30*time.Second, "a complete pull", func(s control.SyncDir) bool { return s.LastSuccess != nil })
	if ok, why := sameFile(p.n2.dir, "big.wav", want); !ok {
		t.Fatalf("big.wav on n2: %s", why)
	}
	ideal := float64(size) / (capKiB * 1024) * 1000 // ms
	t.Logf("%d bytes at %d KiB/s: %.0f ms (ideal %.0f ms), %.0f KiB/s", size, capKiB, st.LastDurationMS, ideal, st.RateBps/1024)
	if st.LastDurationMS < 0.8*ideal || st.LastDurationMS > 1.5*ideal+1500 {
		t.Errorf("got a pull of %.0f ms, want about %.0f ms (the cap)", st.LastDurationMS, ideal)
	}
	if st.LastFiles != 2 || st.LastBytes < size {
		t.Errorf("got files %d, bytes %d; want 2 files and at least %d bytes", st.LastFiles, st.LastBytes, size)
	}
}

// TestSyncRefusesBadSource: when the primary's disk is not mounted (its
// empty mount point is all that is left) or the source is emptied, the
// standby's copy keeps every file, and sync_refused is raised, then
// resolved when the disk is back.
func TestSyncRefusesBadSource(t *testing.T) {
	testenv.RequireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "pbxha-test", dst).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dst).Run() })
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "pbxha-test", src).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	mounted := true
	umount := func() {
		// Lazily: a pull under way may hold the directory open; new
		// transfers see the empty mount point at once, as after a boot
		// where the disk did not mount.
		if out, err := exec.Command("umount", "-l", src).CombinedOutput(); err != nil {
			t.Fatalf("umount %s: %v: %s", src, err, out)
		}
		mounted = false
	}
	t.Cleanup(func() {
		if mounted {
			_ = exec.Command("umount", "-l", src).Run()
		}
	})
	write(t, src, filesync.DefaultMarker, 0)
	a := write(t, src, "a.wav", 4096)
	p := newPair(t, pairOpts{dir: filesync.Dir{Marker: filesync.DefaultMarker, RequireMount: true, Interval: time.Second}, src: src, dst: dst})
	testenv.WaitForReason(t, 20*time.Second, "a.wav on n2", func() (bool, string) { return sameFile(p.n2.dir, "a.wav", a) })

	cases := []struct {
		name   string
		break_ func()
		want   string
	}{
		{"unmounted", umount, "not a mount point"},
		{"marker missing", func() { os.Remove(filepath.Join(src, filesync.DefaultMarker)) }, "marker file"},
		{"empty", func() { os.Remove(filepath.Join(src, "a.wav")) }, "empty"},
	}
	for i, tc := range cases {
		if i > 0 {
			// Back to a good source: the tmpfs again, with its marker.
			if !mounted {
				if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "pbxha-test", src).CombinedOutput(); err != nil {
					t.Fatalf("mount: %v: %s", err, out)
				}
				mounted = true
			}
			write(t, src, filesync.DefaultMarker, 0)
			a = write(t, src, "a.wav", 4096)
			resolved := len(p.n2.eventsOf(event.SyncRefused))
			back := time.Now()
			okRuns(t, p.n2, 20*time.Second, "a complete pull after the source came back", func(s control.SyncDir) bool {
				return s.LastSuccess != nil && s.LastSuccess.After(back)
			})
			testenv.WaitFor(t, 5*time.Second, "sync_refused resolved", func() bool {
				evs := p.n2.eventsOf(event.SyncRefused)
				return len(evs) > resolved-1 && evs[len(evs)-1].Resolved
			})
		}
		t.Run(tc.name, func(t *testing.T) {
			tc.break_()
			broken := time.Now()
			// A pull that began before the break may still complete; the
			// next one is refused.
			st := okRuns(t, p.n2, 20*time.Second, "a refused pull", func(s control.SyncDir) bool {
				return s.LastErrorAt != nil && s.LastErrorAt.After(broken) && strings.Contains(s.LastError, "refused")
			})
			if !strings.Contains(st.LastError, tc.want) {
				t.Errorf("got last error %q, want it to say %q", st.LastError, tc.want)
			}
			if ok, why := sameFile(p.n2.dir, "a.wav", a); !ok {
				t.Errorf("n2's a.wav after a refused pull: %s; want it kept", why)
			}
			evs := p.n2.eventsOf(event.SyncRefused)
			if len(evs) == 0 || evs[len(evs)-1].Resolved || evs[len(evs)-1].Severity != event.Critical {
				t.Errorf("got sync_refused events %+v, want a critical one last", evs)
			}
		})
	}
}

// TestSyncResumesInterruptedTransfer: a pull cut off half-way (the link
// goes down) keeps what it received in the partial directory, and the
// next pull sends only the rest.
func TestSyncResumesInterruptedTransfer(t *testing.T) {
	const size = 4 << 20
	src := t.TempDir()
	write(t, src, filesync.DefaultMarker, 0)
	want := write(t, src, "big.wav", size)
	p := newPair(t, pairOpts{dir: filesync.Dir{BWLimit: 768, Interval: 2 * time.Second}, src: src, ioTimeout: 2 * time.Second})

	// Wait for about half the file in rsync's temporary file, then cut.
	testenv.WaitForReason(t, 30*time.Second, "half of big.wav received", func() (bool, string) {
		tmp, _ := filepath.Glob(filepath.Join(p.n2.dir, ".big.wav.*"))
		for _, f := range tmp {
			if fi, err := os.Stat(f); err == nil && fi.Size() >= size/2 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("temporary files %v", tmp)
	})
	before := p.n2.dirStatus().Failures
	if err := p.n1.host.LinkDown(); err != nil {
		t.Fatal(err)
	}
	okRuns(t, p.n2, 30*time.Second, "the cut pull failed", func(s control.SyncDir) bool { return s.Failures > before })
	partial := filepath.Join(p.n2.dir, filesync.PartialDir, "big.wav")
	fi, err := os.Stat(partial)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("partial file after the cut: %v, want one with data", err)
	}
	t.Logf("kept %d bytes in %s", fi.Size(), partial)
	if err := p.n1.host.LinkUp(); err != nil {
		t.Fatal(err)
	}
	st := okRuns(t, p.n2, 40*time.Second, "a complete pull after the link came back", func(s control.SyncDir) bool { return s.LastSuccess != nil })
	if ok, why := sameFile(p.n2.dir, "big.wav", want); !ok {
		t.Fatalf("big.wav on n2: %s", why)
	}
	if st.LastBytes > size-fi.Size()/2 {
		t.Errorf("the resumed pull received %d bytes; want well under %d (it had %d already)", st.LastBytes, size, fi.Size())
	}
	if _, err := os.Stat(partial); err == nil {
		t.Errorf("partial file %s still there after the complete pull", partial)
	}
	// The copy was older than lag_alert (3s) while the link was down:
	// sync_lagging, resolved once a pull caught up.
	testenv.WaitForReason(t, 20*time.Second, "sync_lagging raised, then resolved", func() (bool, string) {
		evs := p.n2.eventsOf(event.SyncLagging)
		if len(evs) < 2 || evs[0].Resolved || evs[0].Severity != event.Warning {
			return false, fmt.Sprintf("%d events", len(evs))
		}
		return evs[len(evs)-1].Resolved, "last one not resolved"
	})
	entries, _ := os.ReadDir(p.n2.dir)
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	t.Logf("n2 holds %v", names)
}

// BenchmarkPullCap measures pulls of a 2 MiB file at a cap of 1024 KiB/s
// between two namespaces (the ideal: 2000 ms), each started by the
// primary's change notice. It reports the median pull time and rate.
//
//	go test -run '^$' -bench PullCap -benchtime 5x -count 3 ./filesync
func BenchmarkPullCap(b *testing.B) {
	const size, capKiB = 2 << 20, 1024
	src := b.TempDir()
	write(b, src, filesync.DefaultMarker, 0)
	p := newPair(b, pairOpts{dir: filesync.Dir{BWLimit: capKiB, Watch: true, Marker: filesync.DefaultMarker}, src: src})
	write(b, src, "warm.wav", 1000)
	okRuns(b, p.n2, 30*time.Second, "a first pull", func(s control.SyncDir) bool { return s.LastSuccess != nil })
	var took, rate []float64
	b.ResetTimer()
	for i := range b.N {
		runs := p.n2.dirStatus().Runs
		write(b, src, fmt.Sprintf("file-%d.wav", i), size)
		st := okRuns(b, p.n2, 30*time.Second, "the pull of the new file", func(s control.SyncDir) bool {
			return s.Runs > runs && s.State == "ok" && s.LastFiles == 1
		})
		took = append(took, st.LastDurationMS)
		rate = append(rate, st.RateBps/1024)
	}
	b.StopTimer()
	slices.Sort(took)
	slices.Sort(rate)
	b.ReportMetric(took[len(took)/2], "ms/pull")
	b.ReportMetric(rate[len(rate)/2], "KiB/s")
	b.ReportMetric(0, "ns/op")
}
