package vip

import (
	"context"
	"errors"
	"github.com/pbxha/pbxha/internal/testenv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeScript writes an executable sh script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// cloudScripts stand in for an operator's elastic-IP scripts: up and down
// record the event in a log and the holder in a state file, check reads it.
func cloudScripts(t *testing.T) (Script, string, string) {
	dir := t.TempDir()
	state, log := filepath.Join(dir, "holder"), filepath.Join(dir, "events.log")
	rec := `echo "$PBXHA_ACTION $PBXHA_VIP $PBXHA_VIP_CIDR $PBXHA_INTERFACE $1" >> ` + log + "\n"
	return Script{
		Up:    []string{writeScript(t, dir, "up.sh", rec+"echo me > "+state+"\n"), "eip-1"},
		Down:  []string{writeScript(t, dir, "down.sh", rec+"rm -f "+state+"\n"), "eip-1"},
		Check: []string{writeScript(t, dir, "check.sh", "[ -e "+state+" ] && exit 0\nexit 1\n")},
	}, state, log
}

func TestScriptMode(t *testing.T) {
	sc, state, log := cloudScripts(t)
	v, err := New(Config{Mode: ModeScript, Interface: "eth0", Address: "198.18.0.100/32", Script: sc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := t.Context()

	steps := []struct {
		name     string
		do       func() error
		wantHeld bool
	}{
		{"up", func() error { return v.Up(ctx) }, true},
		{"up again", func() error { return v.Up(ctx) }, true},
		// After a split brain the surviving primary re-announces: in
		// script mode that runs up again, taking the address back.
		{"announce runs up again", func() error { os.Remove(state); return v.Announce(ctx) }, true},
		{"down", func() error { return v.Down(ctx) }, false},
		{"down again", func() error { return v.Down(ctx) }, false},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		held, err := v.Held(ctx)
		if err != nil || held != s.wantHeld {
			t.Fatalf("after %s: Held got %v, %v, want %v", s.name, held, err, s.wantHeld)
		}
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after down: got %v, want it removed", err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"up 198.18.0.100 198.18.0.100/32 eth0 eip-1",
		"up 198.18.0.100 198.18.0.100/32 eth0 eip-1",
		"up 198.18.0.100 198.18.0.100/32 eth0 eip-1",
		"down 198.18.0.100 198.18.0.100/32 eth0 eip-1",
		"down 198.18.0.100 198.18.0.100/32 eth0 eip-1",
	}, "\n") + "\n"
	if string(b) != want {
		t.Errorf("event log:\ngot  %q\nwant %q", b, want)
	}
}

func TestScriptEnsureAbsent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		holding     bool
		withCheck   bool
		wantRemoved bool
		wantDownRun bool
	}{
		{"held, check says so", true, true, true, true},
		{"not held, check says so", false, true, false, false},
		{"no check: down always runs", false, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, state, log := cloudScripts(t)
			if !tc.withCheck {
				sc.Check = nil
			}
			if tc.holding {
				if err := os.WriteFile(state, []byte("me\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			v, err := New(Config{Mode: ModeScript, Address: "198.18.0.100", Script: sc}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			removed, err := v.EnsureAbsent(t.Context())
			if err != nil || removed != tc.wantRemoved {
				t.Fatalf("EnsureAbsent: got %v, %v, want %v", removed, err, tc.wantRemoved)
			}
			b, _ := os.ReadFile(log)
			if ran := strings.Contains(string(b), "down "); ran != tc.wantDownRun {
				t.Errorf("down script ran: got %v, want %v (log %q)", ran, tc.wantDownRun, b)
			}
			if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file: got %v, want none", err)
			}
		})
	}
}

func TestScriptFailures(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	for _, tc := range []struct {
		name    string
		up      []string
		check   []string
		timeout time.Duration
		wantUp  string // error substring from Up; empty: success
		wantHld string // error substring from Held; empty: success
	}{
		{"up exits 3", []string{writeScript(t, dir, "fail.sh", "echo 'quota exceeded' >&2\nexit 3\n")}, nil, 0,
			"vip: script up " + filepath.Join(dir, "fail.sh") + ": exit status 3: quota exceeded", ""},
		{"up missing", []string{filepath.Join(dir, "nope")}, nil, 0, "no such file", ""},
		{"check exits 2", []string{"/bin/true"}, []string{writeScript(t, dir, "check2.sh", "exit 2\n")}, 0, "", "exit status 2"},
		{"up hangs, group killed", []string{writeScript(t, dir, "hang.sh", "sleep 600 &\necho $! > "+pidFile+"\nwait\n")}, nil,
			500 * time.Millisecond, "no exit within 500ms, process group killed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(Config{Mode: ModeScript, Script: Script{Up: tc.up, Down: []string{"/bin/true"}, Check: tc.check, Timeout: tc.timeout}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			err = v.Up(t.Context())
			if tc.wantUp == "" {
				if err != nil {
					t.Fatalf("Up: got %v, want success", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantUp) {
				t.Fatalf("Up: got %v, want an error containing %q", err, tc.wantUp)
			}
			if tc.wantHld != "" {
				if _, err := v.Held(t.Context()); err == nil || !strings.Contains(err.Error(), tc.wantHld) {
					t.Fatalf("Held: got %v, want an error containing %q", err, tc.wantHld)
				}
			}
		})
	}
	// The hanging script's background child was in its process group.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Killed but maybe not yet reaped by init: a zombie counts as ended.
	_ = testenv.Poll(10*time.Second, func() (bool, string) { return testenv.Exited(pid), "" }) // the check below reports
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
		t.Errorf("background child %d of the timed-out script: got alive (%s), want killed", pid, st)
	}
}

func TestNoneMode(t *testing.T) {
	v, err := New(Config{Mode: ModeNone}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	if err := v.Up(ctx); err != nil {
		t.Errorf("Up: got %v, want nil", err)
	}
	if held, err := v.Held(ctx); held || err != nil {
		t.Errorf("Held: got %v, %v, want false, nil", held, err)
	}
	if err := v.Down(ctx); err != nil {
		t.Errorf("Down: got %v, want nil", err)
	}
	if err := v.Close(); err != nil {
		t.Errorf("Close: got %v, want nil", err)
	}
	if err := v.Up(ctx); err == nil {
		t.Errorf("Up after Close: got nil, want an error")
	}
}
