package test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/rawudp"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/test/netns"
	"golang.org/x/sys/unix"
)

// clockTicks is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// Linux).
const clockTicks = 100

// cpuTime returns the CPU time a process has used, user and system.
func cpuTime(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces: the fields after it follow the
	// last ')'; utime and stime are the 14th and 15th fields of the line.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// floodKind is what an attacker without the key sends on a heartbeat path.
type floodKind struct {
	name string
	// payloads returns the datagrams sent in turn, as from node from of
	// cluster "lab".
	payloads func(t testing.TB, from string) [][]byte
}

var floodKinds = []floodKind{
	{"garbage", garbagePayloads},
	{"bad_mac", badMACPayloads},
}

// garbagePayloads are 1024-byte datagrams of random bytes after the
// heartbeat magic: what got queued before the MAC was checked.
func garbagePayloads(t testing.TB, _ string) [][]byte {
	out := make([][]byte, 64)
	for i := range out {
		out[i] = make([]byte, failover.MaxPacket)
		rand.Read(out[i])
		copy(out[i], "PBHA")
	}
	return out
}

// badMACPayloads are well-formed heartbeats of the pair's cluster from the
// primary's node name, as large as a heartbeat gets (eight failing probe
// names), signed with a key the pair does not have.
func badMACPayloads(t testing.TB, from string) [][]byte {
	key := make([]byte, failover.MinKeySize)
	rand.Read(key)
	boot := failover.NewBootID()
	var failing []string
	for i := range failover.MaxFailing {
		failing = append(failing, fmt.Sprintf("probe-%d-%s", i, strings.Repeat("x", failover.MaxName-10)))
	}
	out := make([][]byte, 64)
	for i := range out {
		b, err := failover.Encode(key, failover.Heartbeat{
			Cluster: "lab", Node: from, Boot: boot, Seq: uint64(1_000_000 + i), Epoch: 1_000_000, Sent: time.Now(),
			Role: failover.RolePrimary, Health: probe.Healthy,
			Probes: failover.ProbeSummary{Failed: uint8(len(failing)), Failing: failing},
		})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// floodResult is what one flood of one heartbeat path did to the standby.
type floodResult struct {
	sent      uint64        // datagrams the attacker's kernel took
	took      time.Duration // how long the flood ran
	idleCPU   float64       // the standby's CPU before the flood, % of one core
	floodCPU  float64       // and during it
	takeovers int           // polls that found the standby primary, or at another epoch than the pair's
	released  int           // polls that found the primary in another role or epoch
	peerLost  int           // polls that found the standby's peer dead
	polls     int
	drops     []map[string]uint64 // per path, counted during the flood (rcvbuf: dropped unread by the kernel)
	accepted  []uint64            // per path, during the flood
	window    time.Duration       // over which drops and accepted were counted: the flood and 1.5s after
}

// rate is the attacker's datagrams per second.
func (r floodResult) rate() float64 { return float64(r.sent) / r.took.Seconds() }

func (r floodResult) String() string {
	return fmt.Sprintf("sent %d in %s (%.0f/s); standby CPU %.1f%% idle, %.1f%% flooded; polls (of %d) with a false takeover %d, the primary gone %d, the peer dead to the standby %d; accepted %v; drops %v",
		r.sent, r.took.Round(time.Millisecond), r.rate(), r.idleCPU, r.floodCPU, r.polls, r.takeovers, r.released, r.peerLost, r.accepted, r.drops)
}

// pathCounters returns a node's per-path accepted and dropped counts.
func pathCounters(t testing.TB, n *pairNode) ([]uint64, []map[string]uint64, control.Status) {
	t.Helper()
	st, err := n.status(t)
	if err != nil || st.Pair == nil {
		t.Fatalf("%s: status: %v", n.host.Name, err)
	}
	var acc []uint64
	var drops []map[string]uint64
	for _, p := range st.Pair.Peer.Paths {
		acc = append(acc, p.Accepted)
		drops = append(drops, maps.Clone(p.Drops))
	}
	return acc, drops, st
}

// floodPath floods the standby's first heartbeat path, from the attacker
// host, with datagrams forged to come from the primary's heartbeat
// address, for d, and reports what it cost and whether the pair held.
// The standby's CPU is measured over idle before the flood and over the
// flood itself; the roles are polled every 100ms throughout.
func floodPath(t testing.TB, f *pairFixture, attacker *netns.Host, kind floodKind, idle, d time.Duration) floodResult {
	t.Helper()
	prim := f.primary()
	if prim == nil {
		f.dump()
		t.Fatal("no primary before the flood")
	}
	stby := f.other(prim)
	src, dst := netip.AddrPortFrom(prim.host.IP, 7946), netip.AddrPortFrom(stby.host.IP, 7946)
	payloads := kind.payloads(t, prim.host.Name)
	var s *rawudp.Sender
	if err := attacker.Do(func() (err error) { s, err = rawudp.NewSender(src, dst); return err }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var r floodResult
	pid := stby.pbxha.Process.Pid
	cpu0 := cpuTime(t, pid)
	time.Sleep(idle) // measuring: the standby's CPU at rest, not a wait for a state
	cpu1 := cpuTime(t, pid)
	r.idleCPU = 100 * (cpu1 - cpu0).Seconds() / idle.Seconds()

	acc0, drops0, st0 := pathCounters(t, stby)
	counted := time.Now()
	epoch0 := st0.Pair.Epoch

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var floodErr error
	start := time.Now()
	cpu2 := cpuTime(t, pid)
	wg.Go(func() {
		// The attacker is another machine: its thread keeps to the last
		// CPU, where the kernel also delivers what it sends, and leaves
		// the others to the pair.
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if n := runtime.NumCPU(); n > 1 {
			var set unix.CPUSet
			set.Set(n - 1)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				t.Logf("attacker thread on CPU %d: %v", n-1, err)
			}
		}
		r.sent, floodErr = s.Flood(ctx, payloads)
	})
	check := func() {
		r.polls++
		ss, err := stby.status(t)
		switch {
		case err != nil:
			t.Logf("standby status during the flood: %v", err)
		case ss.Role != "standby" || ss.Pair.Epoch != epoch0:
			r.takeovers++
			t.Logf("standby %s during the flood: role %s, epoch %d (was %d): %s", stby.host.Name, ss.Role, ss.Pair.Epoch, epoch0, ss.Pair.Reason)
		case !ss.Pair.Peer.Alive:
			r.peerLost++
		}
		ps, err := prim.status(t)
		switch {
		case err != nil:
			t.Logf("primary status during the flood: %v", err)
		case ps.Role != "primary" || ps.Pair.Epoch != epoch0:
			r.released++
			t.Logf("primary %s during the flood: role %s, epoch %d (was %d): %s", prim.host.Name, ps.Role, ps.Pair.Epoch, epoch0, ps.Pair.Reason)
		}
	}
	for i := 0; i < int(d/(100*time.Millisecond))+1 && ctx.Err() == nil; i++ {
		check()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	wg.Wait()
	r.took = time.Since(start)
	cpu3 := cpuTime(t, pid)
	r.floodCPU = 100 * (cpu3 - cpu2).Seconds() / r.took.Seconds()
	if floodErr != nil {
		t.Fatal(floodErr)
	}
	// The last datagrams are read within moments; dead_after past the
	// flood, a takeover it caused would show.
	time.Sleep(failover.DefaultDeadAfter + 500*time.Millisecond) // letting a late takeover happen, if any
	check()
	acc1, drops1, _ := pathCounters(t, stby)
	r.window = time.Since(counted)
	for i := range acc1 {
		r.accepted = append(r.accepted, acc1[i]-acc0[i])
		d := map[string]uint64{}
		for reason, n := range drops1[i] {
			if n > drops0[i][reason] {
				d[reason] = n - drops0[i][reason]
			}
		}
		r.drops = append(r.drops, d)
	}
	return r
}

// scrapeMetrics returns a node's /metrics text. The connection is made on
// a thread in the node's namespace (net/http would dial from another
// goroutine, outside it).
func scrapeMetrics(t testing.TB, n *pairNode) string {
	t.Helper()
	var body []byte
	err := n.host.Do(func() error {
		c, err := net.DialTimeout("tcp", n.host.IP.String()+":9464", 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: pbxha\r\nConnection: close\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("got %s, want 200", resp.Status)
		}
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if err != nil {
		t.Fatalf("%s: scrape: %v", n.host.Name, err)
	}
	return string(body)
}

// TestHeartbeatFlood floods the standby's heartbeat path from an attacker
// host on the switch with datagrams forged to come from the primary's
// heartbeat address — 1024-byte garbage after the magic, then well-formed
// heartbeats with a wrong MAC — as fast as the attacker's kernel takes them
// (more than the race-built standby reads), with one heartbeat path and
// with two (a cable the attacker cannot reach as the second). The pair must
// not split or fail over: the standby never takes over, the primary never
// lets go, and the standby counts the flood by path and reason in status
// and metrics.
func TestHeartbeatFlood(t *testing.T) {
	for _, paths := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d paths", paths), func(t *testing.T) {
			f := startPairWith(t, pairOptions{extraHosts: []string{"mallory"}, cable: paths == 2, metrics: true})
			f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
			attacker := f.topo.Host("mallory")
			for _, kind := range floodKinds {
				f.wait(30*time.Second, "a settled pair before the flood", f.settled(nil))
				r := floodPath(t, f, attacker, kind, time.Second, 5*time.Second)
				t.Logf("%s: %s", kind.name, r)
				if r.takeovers > 0 || r.released > 0 {
					f.dump()
					t.Fatalf("%s flood: the standby was seen primary in %d polls and the primary not primary in %d, want none", kind.name, r.takeovers, r.released)
				}
				if r.sent < 10_000 {
					t.Errorf("%s flood: got %d datagrams sent, want at least 10000", kind.name, r.sent)
				}
				// The garbage is mostly an unknown version, some truncated or
				// malformed; bad MACs are all bad_mac. All are counted on the
				// flooded path, none on the cable.
				top, checked := "", uint64(0)
				for reason, n := range r.drops[0] {
					if reason != "rcvbuf" {
						checked += n
					}
					if top == "" || n > r.drops[0][top] {
						top = reason
					}
				}
				if want := map[string]string{"garbage": "version", "bad_mac": "bad_mac"}[kind.name]; want != "" && r.drops[0][want] < checked/2 {
					t.Errorf("%s flood: path 0 drops %v, want most of them %s", kind.name, r.drops[0], want)
				}
				if checked < 5_000 {
					t.Errorf("%s flood: path 0 drops %v, want at least 5000 of the %d sent checked and dropped", kind.name, r.drops[0], r.sent)
				}
				if paths == 2 && len(r.drops[1]) > 0 {
					t.Errorf("%s flood: the cable's drops %v, want none", kind.name, r.drops[1])
				}
				prim := f.primary()
				stby := f.other(prim)
				series := fmt.Sprintf(`pbxha_heartbeats_dropped_total{local="%s:7946",path="0",peer="%s:7946",reason="%s"} `, stby.host.IP, prim.host.IP, top)
				if metrics := scrapeMetrics(t, stby); !strings.Contains(metrics, series) {
					t.Errorf("%s flood: the standby's metrics lack %s", kind.name, series)
				}
			}
			for _, n := range f.nodes {
				st, err := n.status(t)
				if err != nil || len(st.Pair.Peer.Paths) != paths || !st.Pair.Peer.Alive {
					t.Errorf("%s after the floods: %+v (%v), want %d paths and the peer alive", n.host.Name, st.Pair, err, paths)
				}
			}
		})
	}
}

// BenchmarkHeartbeatFlood measures what a flood of one heartbeat path costs
// a running pair (binaries without the race detector) in network
// namespaces, per kind of forged datagram, with one heartbeat path and
// with two (the second over a cable the attacker cannot reach):
//
//	go test -run '^$' -bench BenchmarkHeartbeatFlood -benchtime 5x ./test      # as root
//
// Each trial measures the standby's CPU at rest for 3s, then floods its
// first path for 10s from an attacker host on the switch, forging the
// primary's heartbeat address. It reports medians over the trials: the
// attacker's datagrams per second, the standby's CPU at rest and flooded
// (% of one core), the datagrams it read and dropped per second, those
// its kernel dropped for a full receive buffer, the real heartbeats
// accepted per second on each path (5/s unflooded) — and, summed over the
// trials, the polls (every 100ms) that found the standby primary or the
// primary gone, which must be 0, and those that found the peer dead to the
// standby.
func BenchmarkHeartbeatFlood(b *testing.B) {
	for _, paths := range []int{1, 2} {
		b.Run(fmt.Sprintf("%d_paths", paths), func(b *testing.B) {
			f := startPairWith(b, pairOptions{extraHosts: []string{"mallory"}, cable: paths == 2, plain: true})
			f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
			attacker := f.topo.Host("mallory")
			for _, kind := range floodKinds {
				b.Run(kind.name, func(b *testing.B) {
					var rs []floodResult
					for range b.N {
						f.wait(30*time.Second, "a settled pair before the trial", f.settled(nil))
						r := floodPath(b, f, attacker, kind, 3*time.Second, 10*time.Second)
						b.Logf("%s", r)
						rs = append(rs, r)
					}
					reportFlood(b, rs)
				})
			}
		})
	}
}

// reportFlood reports the medians (and sums) of BenchmarkHeartbeatFlood.
func reportFlood(b *testing.B, rs []floodResult) {
	med := func(f func(r floodResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	// Drops happen while the flood lasts; heartbeats are accepted over
	// the whole window.
	perSec := func(n uint64, r floodResult) float64 { return float64(n) / r.took.Seconds() }
	perWindow := func(n uint64, r floodResult) float64 { return float64(n) / r.window.Seconds() }
	b.ReportMetric(med(func(r floodResult) float64 { return r.rate() }), "sent/s")
	b.ReportMetric(med(func(r floodResult) float64 { return r.idleCPU }), "idle-cpu-%")
	b.ReportMetric(med(func(r floodResult) float64 { return r.floodCPU }), "flood-cpu-%")
	b.ReportMetric(med(func(r floodResult) float64 {
		var n uint64
		for reason, v := range r.drops[0] {
			if reason != "rcvbuf" {
				n += v
			}
		}
		return perSec(n, r)
	}), "checked-dropped/s")
	b.ReportMetric(med(func(r floodResult) float64 { return perSec(r.drops[0]["rcvbuf"], r) }), "rcvbuf-dropped/s")
	for i := range rs[0].accepted {
		b.ReportMetric(med(func(r floodResult) float64 { return perWindow(r.accepted[i], r) }), fmt.Sprintf("path%d-accepted/s", i))
	}
	var takeovers, released, lost int
	for _, r := range rs {
		takeovers += r.takeovers
		released += r.released
		lost += r.peerLost
	}
	b.ReportMetric(float64(takeovers), "false-takeover-polls")
	b.ReportMetric(float64(released), "primary-gone-polls")
	b.ReportMetric(float64(lost), "peer-dead-polls")
}
