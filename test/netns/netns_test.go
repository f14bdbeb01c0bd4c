package netns

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// TestTopology builds a topology in a subtest and checks that the test's
// end removed it: its namespaces deleted and a process started in a host
// killed. The lab itself (addresses, links, neighbours, Do) is tested in
// internal/netlab.
func TestTopology(t *testing.T) {
	var names []string
	t.Run("build", func(t *testing.T) {
		topo := New(t, Options{Hosts: []string{"a", "b"}, IPv6: true})
		a, b := topo.Host("a"), topo.Host("b")
		names = []string{topo.Switch, a.NS, b.NS}
		if len(topo.Hosts) != 2 || topo.Hosts[0] != a || topo.Hosts[1] != b {
			t.Errorf("got hosts %v, want a and b in order", topo.Hosts)
		}
		if a.IP.String() != "198.18.0.11" || b.IP6.String() != "fd00:198:18::c" {
			t.Errorf("got a %s, b %s; want 198.18.0.11 and fd00:198:18::c", a.IP, b.IP6)
		}
		for _, n := range names {
			if _, err := os.Stat("/run/netns/" + n); err != nil {
				t.Errorf("namespace %s: got %v, want it to exist", n, err)
			}
		}
		out := b.MustRun("ip", "-o", "addr", "show", "dev", "eth0")
		for _, want := range []string{"198.18.0.12/24", "fd00:198:18::c/64"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("b's addresses: got %q, want %s among them", out, want)
			}
		}

		// A process started in b runs in b's namespace and dies at cleanup.
		cmd, err := b.Start("sleep", "600")
		if err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		t.Cleanup(func() {
			// Registered after New's cleanup, so it runs first: the process
			// must still be alive here and gone once New's cleanup ran,
			// which the outer test checks.
			names = append(names, "pid:"+strconv.Itoa(pid))
		})
		// ip netns exec enters the namespace, then execs sleep.
		testenv.WaitForReason(t, 10*time.Second, "ip netns exec to become sleep", func() (bool, string) {
			comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
			return strings.TrimSpace(string(comm)) == "sleep", "comm " + strings.TrimSpace(string(comm))
		})
		link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		if link == want {
			t.Errorf("started process's namespace: got the test's own %s, want b's", link)
		}
	})
	if len(names) == 0 {
		t.Fatal("build subtest did not record its names")
	}
	for _, n := range names {
		if pid, ok := strings.CutPrefix(n, "pid:"); ok {
			if _, err := os.Stat("/proc/" + pid); err == nil {
				t.Errorf("process %s after cleanup: got alive, want killed", pid)
			}
			continue
		}
		if _, err := os.Stat("/run/netns/" + n); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s after cleanup: got %v, want it deleted", n, err)
		}
	}
}

func TestBadHostName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
	}{
		{"too long", []string{"abcdefghijklm"}},
		{"duplicate", []string{"n1", "n1"}},
		{"slash", []string{"a/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fatalT{TB: t}
			func() {
				defer func() { recover() }()
				New(ft, Options{Hosts: tc.hosts})
			}()
			if !ft.failed {
				t.Errorf("New(%q): got no failure, want one", tc.hosts)
			}
		})
	}
}

func TestUnknownHost(t *testing.T) {
	topo := New(t, Options{Hosts: []string{"a"}})
	ft := &fatalT{TB: t}
	topo.t = ft
	func() {
		defer func() { recover() }()
		topo.Host("b")
	}()
	if !ft.failed {
		t.Errorf("Host(%q): got no failure, want one", "b")
	}
}

// fatalT records Fatalf instead of ending the test, so a test can check that
// New refuses bad options. Its cleanups still run on the real test.
type fatalT struct {
	testing.TB
	failed bool
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
