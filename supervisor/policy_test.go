package supervisor

import (
	"slices"
	"testing"
	"time"
)

func TestPolicyNext(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	pol := policy{initial: time.Second, max: 8 * time.Second, factor: 2, maxRestarts: 3, window: time.Minute}
	tests := []struct {
		name      string
		pol       policy
		restarts  []time.Time
		downAt    time.Time
		now       time.Time
		wantAt    time.Time
		wantFault bool
		wantIn    int
	}{
		{"first death waits initial", pol, nil, at(0), at(0), at(time.Second), false, 0},
		{"second waits initial*factor", pol, []time.Time{at(-10 * time.Second)}, at(0), at(0), at(2 * time.Second), false, 1},
		{"third waits factor^2", pol, []time.Time{at(-20 * time.Second), at(-10 * time.Second)}, at(0), at(0), at(4 * time.Second), false, 2},
		{"back-off capped at max", policy{initial: time.Second, max: 3 * time.Second, factor: 10, maxRestarts: 9, window: time.Minute},
			[]time.Time{at(-20 * time.Second), at(-10 * time.Second)}, at(0), at(0), at(3 * time.Second), false, 2},
		{"old restarts outside the window do not count", pol, []time.Time{at(-2 * time.Minute), at(-90 * time.Second)}, at(0), at(0), at(time.Second), false, 0},
		{"limit reached: fault until the oldest leaves the window", pol,
			[]time.Time{at(-50 * time.Second), at(-30 * time.Second), at(-10 * time.Second)}, at(0), at(0), at(10 * time.Second), true, 3},
		{"limit with more than max in window waits for enough to leave", pol,
			[]time.Time{at(-55 * time.Second), at(-50 * time.Second), at(-30 * time.Second), at(-10 * time.Second)}, at(0), at(0), at(10 * time.Second), true, 4},
		{"window passed: tries again", pol,
			[]time.Time{at(-61 * time.Second), at(-30 * time.Second), at(-10 * time.Second)}, at(-time.Second), at(0), at(3 * time.Second), false, 2},
		{"zero initial: at once", policy{initial: 0, max: time.Second, factor: 2, maxRestarts: 3, window: time.Minute}, []time.Time{at(-time.Second)}, at(0), at(0), at(0), false, 1},
		{"back-off already served while down", pol, nil, at(-5 * time.Second), at(0), at(0), false, 0},
		{"back-off counts from a late restart too", pol, []time.Time{at(-100 * time.Millisecond)}, at(-200 * time.Millisecond), at(0), at(1900 * time.Millisecond), false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.pol.next(tc.restarts, tc.downAt, tc.now)
			if !got.At.Equal(tc.wantAt) || got.Fault != tc.wantFault || got.InWindow != tc.wantIn {
				t.Errorf("got at %v fault %v in-window %d (%s), want at %v fault %v in-window %d",
					got.At.Sub(t0), got.Fault, got.InWindow, got.Reason, tc.wantAt.Sub(t0), tc.wantFault, tc.wantIn)
			}
		})
	}
}

// TestPolicyNoStorm replays a PBX that dies at once after every start,
// with fake time: it is started at most maxRestarts times per window.
func TestPolicyNoStorm(t *testing.T) {
	pol := policy{initial: 0, max: time.Second, factor: 2, maxRestarts: 5, window: 10 * time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := now.Add(time.Hour)
	var restarts []time.Time
	for i := 0; i < 10000 && now.Before(end); i++ {
		pl := pol.next(restarts, now, now)
		now = pl.At
		if !pl.Fault {
			restarts = append(restarts, now)
		}
	}
	for i := range restarts {
		if n := len(pol.inWindow(restarts[:i+1], restarts[i])); n > pol.maxRestarts {
			t.Fatalf("restart %d at %v: got %d restarts within the window, want <= %d", i, restarts[i], n, pol.maxRestarts)
		}
	}
	if got, want := len(restarts), 5*7; got > want {
		t.Errorf("restarts in an hour: got %d, want <= %d", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; nil: valid
	}{
		{"exec ok", Config{Mode: ModeExec, Command: []string{"/bin/true"}, StateDir: "/tmp/x"}, nil},
		{"none ok", Config{Mode: ModeNone}, nil},
		{"no mode", Config{}, []string{"mode: is required"}},
		{"bad mode", Config{Mode: "docker"}, []string{`mode: "docker" must be one of`}},
		{"exec needs command and state dir", Config{Mode: ModeExec}, []string{"command: is required", "state_dir: is required"}},
		{"exec unknown user", Config{Mode: ModeExec, Command: []string{"x"}, StateDir: "/x", User: "no-such-user-pbxha"}, []string{`user: "no-such-user-pbxha" is not a user of this host`}},
		{"pidfile needs file, match, start", Config{Mode: ModePIDFile}, []string{`pidfile: "" must be an absolute path`, "match: is required", "start_command: is required"}},
		{"systemd needs unit", Config{Mode: ModeSystemd}, []string{`unit: "" must name a systemd unit`}},
		{"systemd unit like a flag", Config{Mode: ModeSystemd, Unit: "--all"}, []string{`unit: "--all" must name a systemd unit`}},
		{"negative durations", Config{Mode: ModeNone, StopTimeout: -1, HangGrace: -1}, []string{"stop_timeout: -1ns must be positive", "hang_grace: -1ns must not be negative"}},
		{"factor below 1", Config{Mode: ModeNone, BackoffFactor: 0.5}, []string{"backoff_factor: 0.5 must be at least 1"}},
		{"max below initial", Config{Mode: ModeNone, BackoffInitial: time.Minute, BackoffMax: time.Second}, []string{"backoff_max: 1s must not be shorter than backoff_initial 1m0s"}},
		{"negative max restarts", Config{Mode: ModeNone, MaxRestarts: -1}, []string{"max_restarts: -1 must be at least 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil, nil)
			if tc.want == nil {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestCheckHost: the user and group that New resolves are what config
// check looks up, in exec mode only.
func TestCheckHost(t *testing.T) {
	exec := Config{Mode: ModeExec, Command: []string{"/bin/true"}, StateDir: t.TempDir()}
	tests := []struct {
		name        string
		user, group string
		mode        Mode
		want        []Problem
	}{
		{name: "root", user: "root", group: "root", mode: ModeExec},
		{name: "numeric ids", user: "0", group: "0", mode: ModeExec},
		{name: "unknown user", user: "no-such-user-pbxha", mode: ModeExec,
			want: []Problem{{Key: "user", Msg: `"no-such-user-pbxha" is not a user of this host`}}},
		{name: "unknown group", user: "root", group: "no-such-group-pbxha", mode: ModeExec,
			want: []Problem{{Key: "group", Msg: `"no-such-group-pbxha" is not a group of this host`}}},
		{name: "not exec mode", user: "no-such-user-pbxha", mode: ModeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := exec
			c.Mode, c.User, c.Group = tt.mode, tt.user, tt.group
			if c.Mode != ModeExec {
				c.Command = nil
			}
			got := c.CheckHost()
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			_, err := New(c, nil, nil)
			if gotErr, wantErr := err != nil, len(tt.want) > 0; gotErr != wantErr {
				t.Errorf("New: got error %v, want an error: %t (as CheckHost)", err, wantErr)
			}
		})
	}
}
