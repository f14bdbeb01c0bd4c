package test

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// BenchmarkEtcdOutage measures the SIP outage a client sees through the VIP
// per scenario, over b.N trials each, on the cluster of TestEtcdCluster
// (three etcd members, three nodes, lease_ttl 1s, every other timing the
// default):
//
//	go test -run '^$' -bench 'BenchmarkEtcdOutage|BenchmarkPairOutage$' -benchtime 9x ./test
//
// It reports the median, min and max in milliseconds. Scenarios: a planned
// switchover; the leader's PBX hung; the leader's node lost (its link
// down: it is cut off from etcd and from the clients); the leader cut off
// from etcd alone (it steps down, then another node takes over).
func BenchmarkEtcdOutage(b *testing.B) {
	f := startEtcdCluster(b)
	f.wait(30*time.Second, "one leader holding and serving the VIP", f.settled(nil))
	p := newSIPPinger(b, &f.pairFixture)
	client := f.client.IP.String()
	healthy := func() bool {
		if !f.settled(nil)() {
			return false
		}
		for _, n := range f.nodes {
			s, err := n.status(b)
			if err != nil || s.Health != "healthy" || s.Pair == nil || len(s.Pair.Nodes) != 3 || s.Pair.Etcd.Error != "" {
				return false
			}
		}
		return true
	}
	disturbed := time.Now()
	steady := func() bool { return time.Since(disturbed) >= 3*time.Second && healthy() }
	b.Run("switchover", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			f.wait(30*time.Second, "a healthy cluster, 3s after the last trial", steady)
			prim := f.leader()
			ds = append(ds, outage(b, p, client, func() {
				go exec.Command(f.pbxha, "switchover", "--socket", prim.socket, "--drain-timeout", "0s").Run()
			}, 30*time.Second))
			disturbed = time.Now()
		}
		reportMS(b, "", ds)
	})
	b.Run("hung_pbx", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			f.wait(30*time.Second, "a healthy cluster, 3s after the last trial", steady)
			prim := f.leader()
			ds = append(ds, outage(b, p, client, func() { prim.signalPBX(b, syscall.SIGSTOP) }, 30*time.Second))
			prim.signalPBX(b, syscall.SIGCONT)
			disturbed = time.Now()
		}
		reportMS(b, "", ds)
	})
	b.Run("node_lost", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			f.wait(30*time.Second, "a healthy cluster, 3s after the last trial", steady)
			prim := f.leader()
			ds = append(ds, outage(b, p, client, func() {
				if err := prim.host.LinkDown(); err != nil {
					b.Fatal(err)
				}
			}, 30*time.Second))
			if err := prim.host.LinkUp(); err != nil {
				b.Fatal(err)
			}
			disturbed = time.Now()
		}
		reportMS(b, "", ds)
	})
	b.Run("cut_from_etcd", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			f.wait(30*time.Second, "a healthy cluster, 3s after the last trial", steady)
			prim := f.leader()
			ds = append(ds, outage(b, p, client, func() {
				for _, h := range f.ehosts {
					prim.host.MustRun("ip", "route", "add", "blackhole", h.IP.String()+"/32")
				}
			}, 30*time.Second))
			for _, h := range f.ehosts {
				prim.host.MustRun("ip", "route", "del", "blackhole", h.IP.String()+"/32")
			}
			disturbed = time.Now()
		}
		reportMS(b, "", ds)
	})
}
