package vip

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{Mode: ModeNetlink, Interface: "eth0", Address: "198.18.0.100/32"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none: valid
	}{
		{"netlink minimal", ok, nil},
		{"bare address", Config{Mode: ModeNetlink, Interface: "eth0", Address: "198.18.0.100"}, []string{"vip.address", `"198.18.0.100" must be an address with its prefix length`}},
		{"no mode", Config{Interface: "eth0", Address: "198.18.0.100/32"}, []string{"vip.mode: is required"}},
		{"ipv6", Config{Mode: ModeNetlink, Interface: "eth0", Address: "fd00:198:18::100/64"}, nil},
		{"label 15 bytes", Config{Mode: ModeNetlink, Interface: "eth0", Address: "198.18.0.100/32", Label: "abcdefghijklmno"}, nil},
		{"label 16 bytes", Config{Mode: ModeNetlink, Interface: "eth0", Address: "198.18.0.100/32", Label: "abcdefghijklmnop"},
			[]string{"vip.label", `"abcdefghijklmnop" is 16 bytes`, "at most 15"}},
		{"no interface", Config{Mode: ModeNetlink, Address: "198.18.0.100/32"}, []string{"vip.interface: is required"}},
		{"no address", Config{Mode: ModeNetlink, Interface: "eth0"}, []string{"vip.address: is required"}},
		{"bad address", Config{Mode: ModeNetlink, Interface: "eth0", Address: "198.18.0.300/32"}, []string{"vip.address", "198.18.0.300/32"}},
		{"multicast", Config{Mode: ModeNetlink, Interface: "eth0", Address: "224.0.0.1/32"}, []string{"vip.address", "not a unicast"}},
		{"mapped", Config{Mode: ModeNetlink, Interface: "eth0", Address: "::ffff:198.18.0.100/128"}, []string{"vip.address", "plain IPv4"}},
		{"unknown mode", Config{Mode: "vrrp"}, []string{"vip.mode", `"vrrp"`}},
		{"negative count", Config{Mode: ModeNetlink, Interface: "eth0", Address: "198.18.0.100/32", GARPCount: -1}, []string{"vip.garp_count"}},
		{"refresh too fast", Config{Mode: ModeNetlink, Interface: "eth0", Address: "198.18.0.100/32", Refresh: 10 * time.Millisecond}, []string{"vip.refresh", "flood"}},
		{"script needs up and down", Config{Mode: ModeScript}, []string{"vip.script.up: is required", "vip.script.down: is required"}},
		{"script ok", Config{Mode: ModeScript, Script: Script{Up: []string{"/bin/true"}, Down: []string{"/bin/true"}}}, nil},
		{"none", Config{Mode: ModeNone}, nil},
		{"several at once", Config{Mode: ModeNetlink, Interface: "eth0", Label: "abcdefghijklmnop", GARPInterval: -time.Second},
			[]string{"vip.address: is required", "vip.label", "vip.garp_interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "vip: config: ") {
				t.Errorf("got %q, want prefix %q", err, "vip: config: ")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		wantLabel string
	}{
		{"short interface", Config{Mode: ModeNetlink, Interface: "eth0"}, "eth0:vip"},
		{"long interface", Config{Mode: ModeNetlink, Interface: "enp0s31f6.1234"}, "vip"},
		{"explicit", Config{Mode: ModeNetlink, Interface: "eth0", Label: "pbx"}, "pbx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg.withDefaults()
			if c.Label != tc.wantLabel {
				t.Errorf("label: got %q, want %q", c.Label, tc.wantLabel)
			}
			if c.Mode != tc.cfg.Mode || c.GARPCount != DefaultGARPCount || c.GARPInterval != DefaultGARPInterval || c.Script.Timeout != DefaultScriptTimeout {
				t.Errorf("defaults: got mode %s count %d interval %s timeout %s, want the given mode, %d %s %s",
					c.Mode, c.GARPCount, c.GARPInterval, c.Script.Timeout, DefaultGARPCount, DefaultGARPInterval, DefaultScriptTimeout)
			}
		})
	}
}
