package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/testenv"
)

// The host checks that need root: another user's socket, a read-only
// file system.

// TestHeartbeatPortTakenByAnotherUser: a local user who binds the heartbeat
// port first stops the start; config check and run both say which port,
// which user, and what to do.
func TestHeartbeatPortTakenByAnotherUser(t *testing.T) {
	clearPBXHAEnv(t)
	dir, err := os.MkdirTemp("", "pbxha-port")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := failover.GenerateKey(filepath.Join(dir, "pbxha.key")); err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("127.0.0.1:%d", localPort(t))
	testenv.BindUDPAs(t, 65534, local)
	path := filepath.Join(dir, "t.yaml")
	cfg := fmt.Sprintf("state_dir: %[1]s/state\ncontrol:\n  socket: %[1]s/s.sock\nprobes:\n  sip:\n    - target: sip:127.0.0.1:5060\n"+
		"peer:\n  paths: [{local: %q, peer: \"127.0.0.1:%d\"}]\n  key_file: %[1]s/pbxha.key\nfailover:\n  tie_breakers: [\"127.0.0.1:53\"]\n",
		dir, local, localPort(t))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s: peer.paths[0].local: port %s on 127.0.0.1 is already bound by a process of user nobody (uid 65534), "+
		"so the heartbeat socket cannot be bound; stop that process or choose another port "+
		"(one below 1024, which only root may bind, cannot be taken first by an unprivileged user)", path, strings.TrimPrefix(local, "127.0.0.1:"))

	var out, errOut bytes.Buffer
	checked := checkProblems(t, run([]string{"-c", path, "config", "check"}, &out, &errOut), out.String(), errOut.String())
	if !slices.Equal(checked, []string{want}) {
		t.Errorf("config check: got problems\n%s\nwant\n%s", strings.Join(checked, "\n"), want)
	}
	out.Reset()
	errOut.Reset()
	started := runProblems(t, run([]string{"-c", path, "run"}, &out, &errOut), out.String(), errOut.String())
	if !slices.Equal(started, []string{want}) {
		t.Errorf("run: got problems\n%s\nwant\n%s", strings.Join(started, "\n"), want)
	}
}

// TestReadOnlyStateDirRefused: a state_dir on a read-only file system
// stops config check and the start with the directory and the reason,
// before the event log or the outbox meet it.
func TestReadOnlyStateDirRefused(t *testing.T) {
	clearPBXHAEnv(t)
	dir, err := os.MkdirTemp("", "pbxha-ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	testenv.MountTmpfs(t, state, "ro")
	path := filepath.Join(dir, "t.yaml")
	cfg := fmt.Sprintf("state_dir: %[1]s/state\ncontrol:\n  socket: %[1]s/s.sock\nprobes:\n  sip:\n    - target: sip:127.0.0.1:5060\n", dir)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	want := path + ": state_dir: " + state + ": not writable: read-only file system"
	var out, errOut bytes.Buffer
	checked := checkProblems(t, run([]string{"-c", path, "config", "check"}, &out, &errOut), out.String(), errOut.String())
	if !slices.Equal(checked, []string{want}) {
		t.Errorf("config check: got problems\n%s\nwant\n%s", strings.Join(checked, "\n"), want)
	}
	out.Reset()
	errOut.Reset()
	started := runProblems(t, run([]string{"-c", path, "run"}, &out, &errOut), out.String(), errOut.String())
	if !slices.Equal(started, []string{want}) {
		t.Errorf("run: got problems\n%s\nwant\n%s", strings.Join(started, "\n"), want)
	}
}
