package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/hooks"
)

// fakeDaemon serves the control API on a socket in a temporary directory
// and returns its path and how often maintenance was switched.
func fakeDaemon(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pbxha.sock")
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	var maint atomic.Int32
	api := control.API{
		Status: func() control.Status {
			return control.Status{SchemaVersion: 1, Node: "node-a", Role: "primary", Health: "healthy"}
		},
		Maintenance: func(bool) error { maint.Add(1); return nil },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Serve(ctx, ln, control.NewHandler(api), slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { cancel(); <-done })
	return path, &maint
}

func runCLI(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestCommandsFromAHook: a hook runs with every reserved PBXHA_ variable
// set, PBXHA_SOCKET naming its daemon's socket; status and maintenance
// must reach that daemon and exit 0.
func TestCommandsFromAHook(t *testing.T) {
	clearPBXHAEnv(t)
	socket, maint := fakeDaemon(t)
	cfg := filepath.Join(t.TempDir(), "pbxha.yaml")
	body := "control:\n  socket: /nonexistent/other.sock\nstate_dir: " + t.TempDir() + "\nprobes:\n  sip:\n    - target: sip:127.0.0.1:5060\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range hooks.Reserved() {
		t.Setenv(name, "x")
	}
	t.Setenv(hooks.EnvSocket, socket)
	t.Setenv(hooks.EnvConfig, cfg)
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"maintenance", "on"}, {"config", "check"}} {
		out, errOut, code := runCLI(args...)
		if code != exitOK || errOut != "" {
			t.Errorf("pbxha %s in a hook: exit %d, stderr %q, stdout %q; want exit 0 and no error", strings.Join(args, " "), code, errOut, out)
		}
	}
	if maint.Load() != 1 {
		t.Errorf("got %d maintenance calls, want 1", maint.Load())
	}
	if out, _, _ := runCLI("config", "check"); out != cfg+": ok\n" {
		t.Errorf("config check in a hook: got %q, want %s from PBXHA_CONFIG", out, cfg)
	}
}

// TestCommandsWithRefusedConfig: after a reload refused a bad file, the
// commands that talk to the daemon still reach it through the file's
// control.socket, and print the file's problems as a warning.
func TestCommandsWithRefusedConfig(t *testing.T) {
	clearPBXHAEnv(t)
	socket, _ := fakeDaemon(t)
	cfg := filepath.Join(t.TempDir(), "pbxha.yaml")
	if err := os.WriteFile(cfg, []byte("control:\n  socket: "+socket+"\nlog:\n  level: loud\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-c", cfg, "status"}, {"-c", cfg, "maintenance", "off"}} {
		out, errOut, code := runCLI(args...)
		if code != exitOK {
			t.Errorf("pbxha %s: exit %d (%s), want 0", strings.Join(args, " "), code, errOut)
		}
		if !strings.Contains(errOut, "warning: the config has problems") || !strings.Contains(errOut, "log.level") {
			t.Errorf("pbxha %s: stderr %q, want a warning naming log.level", strings.Join(args, " "), errOut)
		}
		if out == "" {
			t.Errorf("pbxha %s: no output", strings.Join(args, " "))
		}
	}
	// Not YAML at all: the default socket is tried, with the warning.
	if err := os.WriteFile(cfg, []byte("\t- : :"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI("-c", cfg, "status")
	if code != exitNoDaemon || !strings.Contains(errOut, "warning") || !strings.Contains(errOut, "/run/pbxha/pbxha.sock") {
		t.Errorf("status with a broken file: exit %d, stderr %q; want 3 naming the default socket, with a warning", code, errOut)
	}
}
