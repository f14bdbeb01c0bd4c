package supervisor

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// lockedBuffer is a log sink the follower and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestOutputFollowsLogrotate: a PBX started in exec mode writes a numbered
// line every 20 ms to pbx.out; the real logrotate runs the packaged
// logrotate file (packaging/deb/logrotate, path pointed at this state
// directory) twice, forced. The PBX's lines after each rotation must land in
// the file at the path (not in the rotated copy only) and keep reaching the
// log through the follower.
func TestOutputFollowsLogrotate(t *testing.T) {
	lr := testenv.LookPath(t, "logrotate", "/usr/sbin")
	dir := t.TempDir()
	script := filepath.Join(dir, "talk.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ni=0\nwhile [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); sleep 0.02; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	cfg := Config{Mode: ModeExec, Command: []string{script}, StateDir: state, StopTimeout: time.Second,
		BackoffMax: time.Second, MaxRestarts: 5, Window: time.Minute, StopOnExit: true}
	logs := &lockedBuffer{}
	s, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	conf, err := os.ReadFile("../packaging/deb/logrotate")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(conf), "/var/lib/pbxha/pbx.out", filepath.Join(state, "pbx.out"))
	text = strings.ReplaceAll(text, "su root pbxha", "su root root")
	confPath := filepath.Join(dir, "logrotate.conf")
	if err := os.WriteFile(confPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(state, "pbx.out")
	lastLogged := func() string {
		l := logs.String()
		i := strings.LastIndex(l, "pbx_output=\"line ")
		if i < 0 {
			return ""
		}
		return l[i:]
	}
	for round := 1; round <= 2; round++ {
		testenv.WaitFor(t, 10*time.Second, "pbx output in the log", func() bool { return lastLogged() != "" })
		cmd := exec.Command(lr, "--force", "--state", filepath.Join(dir, "lr.state"), confPath)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("logrotate round %d: %v\n%s", round, err, b)
		}
		if _, err := os.Stat(out + ".1"); err != nil {
			t.Fatalf("round %d: no rotated pbx.out.1: %v", round, err)
		}
		before := lastLogged()
		// New lines reach the file at the path and the log.
		testenv.WaitFor(t, 10*time.Second, "new lines in pbx.out after the rotation", func() bool {
			b, _ := os.ReadFile(out)
			return bytes.Contains(b, []byte("line ")) && !bytes.HasPrefix(bytes.TrimLeft(b, "\x00"), []byte{0})
		})
		testenv.WaitFor(t, 10*time.Second, "new lines in the log after the rotation", func() bool { return lastLogged() != before })
	}
	if strings.Contains(logs.String(), "\\x00") {
		t.Error("the follower logged NUL bytes: it read a truncated file's hole")
	}
}
