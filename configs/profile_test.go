package configs

import (
	"testing"
	"time"

	"github.com/pbxha/pbxha/failover"
)

// profilePair is a pair's config with a netlink VIP (the witness on) and
// the given lines added to its failover section.
func profilePair(failoverLines string) []byte {
	return []byte(`probes:
  sip: [{target: "sip:127.0.0.1"}]
  pg: [{dsn: "host=127.0.0.1 dbname=postgres"}]
peer:
  paths: [{local: "10.1.1.1:7946", peer: "10.1.1.2:7946"}]
failover:
  tie_breakers: ["10.1.1.254:53"]
` + failoverLines + `vip: {mode: netlink, interface: eth0, address: 192.0.2.100/32}
`)
}

// TestFastProfile: failover.profile fast changes the defaults of the
// timings it names — and only the defaults: a key set in the file or the
// environment still wins — and keeps the takeover wait, with the witness,
// under the 0.3s the profile is for.
func TestFastProfile(t *testing.T) {
	type timings struct {
		interval, deadAfter, isolation, stepDown, sipInterval, sipTimeout, takeover time.Duration
	}
	def := timings{200 * time.Millisecond, time.Second, 400 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, time.Second}
	fast := timings{50 * time.Millisecond, 150 * time.Millisecond, 100 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond, 80 * time.Millisecond, 207 * time.Millisecond}
	tests := []struct {
		name  string
		lines string
		env   map[string]string
		want  timings
	}{
		{name: "default", want: def},
		{name: "default spelled out", lines: "  profile: default\n", want: def},
		{name: "fast", lines: "  profile: fast\n", want: fast},
		{name: "fast, witness off", lines: "  profile: fast\n  witness: \"off\"\n", want: func() timings {
			w := fast
			w.takeover = 308 * time.Millisecond // one-way rule: (4×50+50+2×12.5+20)×1.01+10 ≈ 307.95
			return w
		}()},
		{name: "fast from the environment", env: map[string]string{"PBXHA_FAILOVER_PROFILE": "fast"}, want: fast},
		{name: "fast, isolation_after set", lines: "  profile: fast\n  isolation_after: 150ms\n", want: func() timings {
			w := fast
			w.isolation, w.takeover = 150*time.Millisecond, 257*time.Millisecond // (50+150+2×12.5+20)×1.01+10 ≈ 257.5
			return w
		}()},
		{name: "fast, interval from the environment", lines: "  profile: fast\n", env: map[string]string{"PBXHA_PEER_INTERVAL": "60ms"}, want: func() timings {
			w := fast
			w.interval, w.takeover = 60*time.Millisecond, 222*time.Millisecond // (60+100+2×15+20)×1.01+10 ≈ 222.1
			return w
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := Parse("profile.yaml", profilePair(tt.lines))
			if err != nil {
				t.Fatal(err)
			}
			pol, err := c.FailoverPolicy()
			if err != nil {
				t.Fatal(err)
			}
			sip := c.Probes.SIP[0]
			got := timings{c.Peer.Interval, c.Peer.DeadAfter, c.Failover.IsolationAfter, c.StepDownBudget(), sip.Interval, sip.Timeout,
				pol.TakeoverWait(c.StepDownBudget()).Round(time.Millisecond)}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestFastProfileWithDatabase: the fast profile does not shorten the
// step-down budget of a node with a managed database, whose stop takes
// hundreds of milliseconds.
func TestFastProfileWithDatabase(t *testing.T) {
	cleanEnv(t)
	c, err := Parse("profile.yaml", append(profilePair("  profile: fast\n"),
		[]byte("database: {dsn: \"host=127.0.0.1 dbname=postgres\", stop_command: [/bin/true]}\n")...))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.StepDownBudget(); got != DefaultStepDownWithDB {
		t.Errorf("got step-down budget %s, want %s with a database", got, DefaultStepDownWithDB)
	}
	if got := c.Peer.DeadAfter; got != failover.FastDeadAfter {
		t.Errorf("got dead_after %s, want the fast profile's %s", got, failover.FastDeadAfter)
	}
}
