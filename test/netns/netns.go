// Package netns gives tests the lab networks of internal/netlab on their
// own terms: New skips without root or the ip command (or fails under
// CI=true), fails the test instead of returning an error, and closes the lab
// when the test ends, killing the processes it started by PID and deleting
// its namespaces. The topology, its 198.18.0.0/24 (and fd00:198:18::/64)
// address plan and the namespace names are netlab's.
package netns

import (
	"sync"
	"testing"

	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
)

// Options shapes a topology: the host names (default "n1", "n2"), whether
// hosts also get IPv6 addresses, and point-to-point links between hosts
// beside the switch. See netlab.Options.
type Options = netlab.Options

// Topology is a switch and the hosts wired to it.
type Topology struct {
	// Switch is the name of the namespace that holds the bridge.
	Switch string
	// Hosts are in the order of Options.Hosts.
	Hosts []*Host

	lab *netlab.Lab
	t   testing.TB
}

// Host is one namespace on the switch: a netlab.Host (its names, addresses
// and methods) that can also fail its test.
type Host struct {
	*netlab.Host
	t testing.TB
}

// staleOnce removes, once per test process, the namespaces of labs whose
// process was killed before it could delete them.
var staleOnce sync.Once

// New builds a topology and removes it when the test ends. It needs root and
// the ip command: without them it skips, or fails under CI=true.
func New(t testing.TB, opts Options) *Topology {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	staleOnce.Do(func() {
		if removed, err := netlab.RemoveStale(t.Context()); err != nil {
			t.Logf("netns: removing stale namespaces: %v", err)
		} else if len(removed) > 0 {
			t.Logf("netns: removed namespaces of killed test processes: %v", removed)
		}
	})
	lab, err := netlab.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("netns: cleanup: %v", err)
		}
	})
	topo := &Topology{Switch: lab.Switch, lab: lab, t: t}
	for _, h := range lab.Hosts {
		topo.Hosts = append(topo.Hosts, &Host{Host: h, t: t})
	}
	return topo
}

// Host returns the host called name, failing the test if there is none.
func (topo *Topology) Host(name string) *Host {
	topo.t.Helper()
	for _, h := range topo.Hosts {
		if h.Name == name {
			return h
		}
	}
	topo.t.Fatalf("netns: no host %q", name)
	return nil
}

// MustRun is Run that fails the test on error.
func (h *Host) MustRun(args ...string) []byte {
	h.t.Helper()
	out, err := h.Run(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// Cable wires hosts a and b together beside the switch (see netlab.Cable),
// failing the test on error.
func (topo *Topology) Cable(a, b *Host) *netlab.Cable {
	topo.t.Helper()
	c, err := topo.lab.Cable(topo.t.Context(), a.Host, b.Host)
	if err != nil {
		topo.t.Fatalf("netns: %v", err)
	}
	return c
}
