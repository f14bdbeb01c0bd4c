package vip

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/test/netns"
)

// Tests in this file add real addresses inside throwaway network namespaces
// (test/netns); they need root and skip without it (fail under CI=true).

func pair(t *testing.T, ipv6 bool) (n1, n2, client *netns.Host) {
	topo := netns.New(t, netns.Options{Hosts: []string{"n1", "n2", "client"}, IPv6: ipv6})
	return topo.Host("n1"), topo.Host("n2"), topo.Host("client")
}

func TestUpDownHeld(t *testing.T) {
	n1, _, _ := pair(t, false)
	v := newVIPIn(t, n1, Config{Mode: ModeNetlink, Address: "198.18.0.100/32", GARPCount: 1})
	ctx := t.Context()

	show := func() string { return string(n1.MustRun("ip", "-o", "-4", "addr", "show", "dev", "eth0")) }
	steps := []struct {
		name      string
		do        func() error
		wantHeld  bool
		wantLines int // lines of `ip addr` output carrying the VIP
	}{
		{"up", func() error { return v.Up(ctx) }, true, 1},
		{"up again is a no-op", func() error { return v.Up(ctx) }, true, 1},
		{"down", func() error { return v.Down(ctx) }, false, 0},
		{"down again succeeds", func() error { return v.Down(ctx) }, false, 0},
		{"up after down", func() error { return v.Up(ctx) }, true, 1},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		held, err := v.Held(ctx)
		if err != nil || held != s.wantHeld {
			t.Fatalf("after %s: Held got %v, %v, want %v", s.name, held, err, s.wantHeld)
		}
		out := show()
		if got := strings.Count(out, "198.18.0.100/32"); got != s.wantLines {
			t.Fatalf("after %s: got %d entries of 198.18.0.100/32 in %q, want %d", s.name, got, out, s.wantLines)
		}
		if s.wantLines > 0 && !strings.Contains(out, "eth0:vip") {
			t.Fatalf("after %s: got %q, want label eth0:vip", s.name, out)
		}
	}
}

func TestNewErrors(t *testing.T) {
	n1, _, _ := pair(t, false)
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"label too long", Config{Mode: ModeNetlink, Address: "198.18.0.100/32", Label: "pbxha-service-ip"}, []string{"vip.label", "16 bytes"}},
		{"no such interface", Config{Mode: ModeNetlink, Interface: "nope0", Address: "198.18.0.100/32"}, []string{"vip: new 198.18.0.100/32 on nope0", "interface nope0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What New refuses, config check (Problems, CheckHost) refuses.
			var host []Problem
			if err := n1.Do(func() error { host = tc.cfg.CheckHost(); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(tc.cfg.Problems())+len(host) == 0 {
				t.Errorf("Problems and CheckHost: got none, want the problem New reports")
			}
			_, err := newVIPInErr(t, n1, tc.cfg)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestFailover moves the VIP from n1 to n2 while the client talks to it, in
// a planned release and with n1 cut off the network. The client must switch
// to n2's MAC from n2's gratuitous ARP alone (it sends nothing meanwhile),
// then reach n2.
func TestFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
		lose func(t *testing.T, n1 *netns.Host, v *VIP)
	}{
		{"ipv4 planned release", false, func(t *testing.T, _ *netns.Host, v *VIP) {
			if err := v.Down(t.Context()); err != nil {
				t.Fatal(err)
			}
		}},
		{"ipv4 node lost", false, func(t *testing.T, n1 *netns.Host, _ *VIP) {
			if err := n1.LinkDown(); err != nil {
				t.Fatal(err)
			}
		}},
		{"ipv6 planned release", true, func(t *testing.T, _ *netns.Host, v *VIP) {
			if err := v.Down(t.Context()); err != nil {
				t.Fatal(err)
			}
		}},
		{"ipv6 node lost", true, func(t *testing.T, n1 *netns.Host, _ *VIP) {
			if err := n1.LinkDown(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n1, n2, client := pair(t, tc.v6)
			addr, cidr := vip4, "198.18.0.100/32"
			if tc.v6 {
				addr, cidr = vip6, "fd00:198:18::100/64"
			}
			cfg := Config{Mode: ModeNetlink, Address: cidr, GARPCount: 3, GARPInterval: 50 * time.Millisecond}
			v1, v2 := newVIPIn(t, n1, cfg), newVIPIn(t, n2, cfg)
			snif := sniff(t, client, tc.v6)

			if err := v1.Up(t.Context()); err != nil {
				t.Fatal(err)
			}
			// Bound at once: with NODAD an IPv6 VIP is not tentative.
			rx1 := listenUDP(t, n1, addr, 5060)
			tx := dialUDP(t, client, addr, 5060)
			if !exchange(t, tx, rx1, 10*time.Second) {
				t.Fatalf("client -> VIP on n1: got no datagram, want one")
			}
			waitNeighbour(t, client, addr, n1.MAC, 5*time.Second)
			checkAnnounced(t, snif, addr, 3, n1)

			tc.lose(t, n1, v1)
			if err := v2.Up(t.Context()); err != nil {
				t.Fatal(err)
			}
			waitNeighbour(t, client, addr, n2.MAC, 5*time.Second)
			checkAnnounced(t, snif, addr, 3, n2)
			rx2 := listenUDP(t, n2, addr, 5060)
			if !exchange(t, tx, rx2, 10*time.Second) {
				t.Fatalf("client -> VIP on n2 after takeover: got no datagram, want one")
			}
		})
	}
}

// checkAnnounced waits (up to 10s: timers run late on a loaded machine)
// for want announcements of ip, then 200ms for extra ones, and checks they
// all carry h's MAC.
func checkAnnounced(t *testing.T, s *sniffer, ip netip.Addr, want int, h *netns.Host) {
	t.Helper()
	got := s.announcements(ip, want, 10*time.Second)
	got = append(got, s.announcements(ip, 0, 200*time.Millisecond)...)
	if len(got) != want {
		t.Fatalf("announcements: got %d %v, want %d from %s", len(got), got, want, h.Name)
	}
	for _, m := range got {
		if !bytes.Equal(m, h.MAC) {
			t.Fatalf("announced MAC: got %s, want %s's %s", m, h.Name, h.MAC)
		}
	}
}

// TestAnnouncementBurst counts announcements on the wire: GARPCount frames
// from the holder's MAC, none after Down.
func TestAnnouncementBurst(t *testing.T) {
	for _, tc := range []struct {
		name string
		cidr string
		addr netip.Addr
	}{
		{"garp", "198.18.0.100/32", vip4},
		{"unsolicited na", "fd00:198:18::100/128", vip6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n1, _, client := pair(t, tc.addr.Is6())
			v := newVIPIn(t, n1, Config{Mode: ModeNetlink, Address: tc.cidr, GARPCount: 4, GARPInterval: 100 * time.Millisecond})
			snif := sniff(t, client, tc.addr.Is6())
			if err := v.Up(t.Context()); err != nil {
				t.Fatal(err)
			}
			checkAnnounced(t, snif, tc.addr, 4, n1)
			if err := v.Announce(t.Context()); err != nil {
				t.Fatal(err)
			}
			checkAnnounced(t, snif, tc.addr, 4, n1)
			if err := v.Down(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := v.Announce(t.Context()); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Announce after Down: got %v, want ErrNotHeld", err)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	n1, _, client := pair(t, false)
	v := newVIPIn(t, n1, Config{Mode: ModeNetlink, Address: "198.18.0.100/32", GARPCount: 1, Refresh: 100 * time.Millisecond})
	snif := sniff(t, client, false)
	if err := v.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := snif.announcements(vip4, 4, 10*time.Second); len(got) < 4 {
		t.Fatalf("announcements in 10s with refresh 100ms: got %d, want at least 4", len(got))
	}
	// An address that vanished behind pbxha's back is not announced.
	n1.MustRun("ip", "addr", "del", "198.18.0.100/32", "dev", "eth0")
	snif.announcements(vip4, 0, 200*time.Millisecond) // drain what was in flight
	if got := snif.announcements(vip4, 0, time.Second); len(got) != 0 {
		t.Fatalf("announcements of a vanished address: got %d, want 0", len(got))
	}
	if err := v.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := v.Down(t.Context()); err != nil {
		t.Fatal(err)
	}
	snif.announcements(vip4, 0, 200*time.Millisecond)
	if got := snif.announcements(vip4, 0, time.Second); len(got) != 0 {
		t.Fatalf("announcements after Down: got %d, want 0", len(got))
	}
}

// TestSecondary: a VIP in the node's own subnet with the node's prefix
// length is a secondary address; with promote_secondaries=0 it would vanish
// with the node's address, so New refuses it. A /32 or promote_secondaries=1
// survive the removal of the node's address.
func TestSecondary(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cidr      string
		promote   string
		later     string // promote_secondaries set after Up; empty: unchanged
		wantErr   []string
		wantAfter bool // held after the node's own address is deleted
	}{
		{"/32 survives", "198.18.0.100/32", "0", "", nil, true},
		{"/24 refused", "198.18.0.100/24", "0", "", []string{"vip.address", "secondary of 198.18.0.11/24", "promote_secondaries", "198.18.0.100/32"}, false},
		{"/24 promoted", "198.18.0.100/24", "1", "", nil, true},
		// The hazard New refuses: switched off behind pbxha's back, the
		// secondary VIP vanishes with the node's address.
		{"/24 promotion switched off later vanishes", "198.18.0.100/24", "1", "0", nil, false},
		{"other subnet /24", "198.18.1.100/24", "0", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := netns.New(t, netns.Options{Hosts: []string{"n1"}})
			n1 := topo.Host("n1")
			n1.MustRun("sysctl", "-q", "-w", "net.ipv4.conf.all.promote_secondaries="+tc.promote, "net.ipv4.conf.eth0.promote_secondaries="+tc.promote)
			cfg := Config{Mode: ModeNetlink, Interface: n1.Link, Address: tc.cidr, GARPCount: 1}
			var host []Problem
			if err := n1.Do(func() error { host = cfg.CheckHost(); return nil }); err != nil {
				t.Fatal(err)
			}
			// CheckHost (config check) refuses what New refuses, no more.
			if got, want := len(host) > 0, tc.wantErr != nil; got != want || (want && host[0].Key != "vip.address") {
				t.Errorf("CheckHost: got %v, want a vip.address problem: %t", host, want)
			}
			v, err := newVIPInErr(t, n1, cfg)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("New: got no error, want one containing %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("New: got %q, want it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Up(t.Context()); err != nil {
				t.Fatal(err)
			}
			if tc.later != "" {
				n1.MustRun("sysctl", "-q", "-w", "net.ipv4.conf.all.promote_secondaries="+tc.later, "net.ipv4.conf.eth0.promote_secondaries="+tc.later)
			}
			n1.MustRun("ip", "addr", "del", "198.18.0.11/24", "dev", "eth0")
			held, err := v.Held(t.Context())
			if err != nil || held != tc.wantAfter {
				t.Fatalf("Held after deleting 198.18.0.11/24: got %v, %v, want %v", held, err, tc.wantAfter)
			}
		})
	}
}

// TestEnsureAbsent: a node starting as standby removes a VIP left on it.
func TestEnsureAbsent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		present string // address to add by hand first; empty: none
		want    bool
	}{
		{"left by a crash", "198.18.0.100/32", true},
		{"with another prefix length", "198.18.0.100/24", true},
		{"absent", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n2, _ := pair(t, false)
			if tc.present != "" {
				n2.MustRun("ip", "addr", "add", tc.present, "dev", "eth0")
			}
			v := newVIPIn(t, n2, Config{Mode: ModeNetlink, Address: "198.18.0.100/32"})
			removed, err := v.EnsureAbsent(t.Context())
			if err != nil || removed != tc.want {
				t.Fatalf("EnsureAbsent: got %v, %v, want %v", removed, err, tc.want)
			}
			if out := n2.MustRun("ip", "-o", "addr", "show", "dev", "eth0"); strings.Contains(string(out), "198.18.0.100") {
				t.Fatalf("addresses after EnsureAbsent: got %q, want no 198.18.0.100", out)
			}
			if removed, err := v.EnsureAbsent(t.Context()); removed || err != nil {
				t.Fatalf("second EnsureAbsent: got %v, %v, want false, nil", removed, err)
			}
		})
	}
}

// TestUpInterfaceDown: the address is added but the announcement cannot
// go out; Up says so with ErrAnnounce.
func TestUpInterfaceDown(t *testing.T) {
	n1, _, _ := pair(t, false)
	v := newVIPIn(t, n1, Config{Mode: ModeNetlink, Address: "198.18.0.100/32", GARPCount: 1})
	n1.MustRun("ip", "link", "set", "eth0", "down")
	err := v.Up(t.Context())
	if !errors.Is(err, ErrAnnounce) {
		t.Fatalf("Up on a down interface: got %v, want ErrAnnounce", err)
	}
	if held, herr := v.Held(t.Context()); !held || herr != nil {
		t.Fatalf("Held: got %v, %v, want true", held, herr)
	}
}

// TestWitness: from n2, the witness sees n1's MAC answer for the VIP while
// n1 holds it, and nobody once n1 released it; Watch reports the VIP
// leaving n1's interface at once, as it is deleted by hand.
func TestWitness(t *testing.T) {
	n1, n2, _ := pair(t, false)
	cfg := Config{Mode: ModeNetlink, Address: "198.18.0.100/32", GARPCount: 1}
	v1, v2 := newVIPIn(t, n1, cfg), newVIPIn(t, n2, cfg)
	if !v2.CanWitness() {
		t.Fatal("CanWitness: got false for an IPv4 netlink VIP, want true")
	}
	witness := func() (bool, string) {
		t.Helper()
		var held bool
		var who string
		if err := n2.Do(func() (err error) { held, who, err = v2.Witness(t.Context(), 100*time.Millisecond); return err }); err != nil {
			t.Fatalf("Witness: %v", err)
		}
		return held, who
	}
	if held, who := witness(); held {
		t.Fatalf("before anyone holds the VIP: got held by %s, want nobody", who)
	}
	ctx := t.Context()
	if err := n1.Do(func() error { return v1.Up(ctx) }); err != nil {
		t.Fatal(err)
	}
	held, who := witness()
	if !held || who != n1.MAC.String() {
		t.Fatalf("n1 holds the VIP: got held %v by %q, want n1's %s", held, who, n1.MAC)
	}
	changes := make(chan bool, 8)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go n1.Do(func() error { return v1.Watch(wctx, func(h bool) { changes <- h }) })
	if got := <-changes; !got {
		t.Fatal("Watch's first report: got not held, want held")
	}
	n1.MustRun("ip", "addr", "del", "198.18.0.100/32", "dev", "eth0")
	select {
	case got := <-changes:
		if got {
			t.Fatal("after the VIP was deleted: Watch reported held, want not held")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not report the deleted VIP within 5s")
	}
	if held, who := witness(); held {
		t.Fatalf("after n1 lost the VIP: got held by %s, want nobody", who)
	}
	none := &VIP{cfg: Config{Mode: ModeNone}, be: noneVIP{}}
	if _, _, err := none.Witness(ctx, time.Millisecond); !errors.Is(err, ErrNoWitness) || none.CanWitness() {
		t.Errorf("witness in mode none: got %v, can %v, want %v and false", err, none.CanWitness(), ErrNoWitness)
	}
}
