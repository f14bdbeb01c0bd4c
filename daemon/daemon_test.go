package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/internal/testenv"
)

// testLog is a log file the daemon's goroutines write while the test
// reads it, and its logger.
type testLog struct{ f *os.File }

func newTestLog(t *testing.T) (*testLog, *slog.Logger) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &testLog{f}, slog.New(slog.NewTextHandler(f, nil))
}

func (l *testLog) String() string {
	b, _ := os.ReadFile(l.f.Name())
	return string(b)
}

// testConfig is a single node with one SIP probe, its state directory and
// control socket in a short temporary directory (a socket path is short).
func testConfig(t *testing.T) *configs.Config {
	t.Helper()
	t.Setenv("NOTIFY_SOCKET", "")
	dir, err := os.MkdirTemp("", "pbxha-daemon")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "t.yaml")
	yaml := "state_dir: " + dir + "/state\ncontrol:\n  socket: " + dir + "/s.sock\nprobes:\n  sip:\n    - target: sip:127.0.0.1:5060\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatalf("configs.Load: %v", err)
	}
	return cfg
}

// TestRunRefusals: what Run refuses comes back before anything runs, as a
// *ConfigError when a part did not build from the config (cmd/pbxha exits
// 2) and as a plain error when this host stops the start (exit 1); a good
// config under an ended context starts and stops.
func TestRunRefusals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		change     func(t *testing.T, cfg *configs.Config)
		wantErr    string // part of the error; "" for none
		wantConfig bool
	}{
		{name: "starts and stops"},
		{name: "esl password file missing",
			change: func(_ *testing.T, cfg *configs.Config) {
				cfg.Probes.ESL = []configs.ESLProbe{{Address: "127.0.0.1:8021", PasswordFile: filepath.Join(cfg.StateDir, "none")}}
			},
			wantErr: "probes.esl[0]: password_file: ", wantConfig: true},
		{name: "alert secret file missing",
			change: func(_ *testing.T, cfg *configs.Config) {
				cfg.Alerts.Endpoints = []configs.Endpoint{{URL: "http://127.0.0.1:9/", SecretFile: filepath.Join(cfg.StateDir, "none")}}
			},
			wantErr: "alerts.endpoints[0].secret_file: ", wantConfig: true},
		{name: "state_dir under a file",
			change: func(t *testing.T, cfg *configs.Config) {
				file := filepath.Join(filepath.Dir(cfg.StateDir), "file")
				if err := os.WriteFile(file, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				cfg.StateDir = filepath.Join(file, "state")
			},
			wantErr: ": state_dir: "},
		{name: "another daemon on the control socket",
			change: func(t *testing.T, cfg *configs.Config) {
				ln, err := net.Listen("unix", cfg.Control.Socket)
				if err != nil {
					t.Fatal(err)
				}
				testenv.ServeAccepts(t, ln)
			},
			wantErr: "another pbxha is answering on this socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tc.change != nil {
				tc.change(t, cfg)
			}
			log, logger := newTestLog(t)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := Run(ctx, cfg, Options{Logger: logger})
			if tc.wantErr == "" {
				if err != nil || !strings.Contains(log.String(), "pbxha started") || !strings.Contains(log.String(), "pbxha stopped") {
					t.Fatalf("got %v and log\n%s\nwant nil after pbxha started and stopped", err, log.String())
				}
				return
			}
			var ce *ConfigError
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.As(err, &ce) != tc.wantConfig {
				t.Fatalf("got %v (a ConfigError: %t), want an error with %q (a ConfigError: %t)", err, errors.As(err, &ce), tc.wantErr, tc.wantConfig)
			}
			if strings.Contains(log.String(), "pbxha started") {
				t.Errorf("got log\n%s\nwant no start", log.String())
			}
		})
	}
}

// TestRunRequests: a reload request whose config does not load is logged
// and refused, the daemon runs on; a stop request stops it, naming the
// signal.
func TestRunRequests(t *testing.T) {
	cfg := testConfig(t)
	reload, stop := make(chan os.Signal, 1), make(chan os.Signal, 1)
	log, logger := newTestLog(t)
	done := make(chan error, 1)
	go func() {
		done <- Run(t.Context(), cfg, Options{Logger: logger, Reload: reload, Stop: stop,
			Load: func() (*configs.Config, error) { return nil, errors.New("test: no config") }})
	}()
	testenv.WaitFor(t, 10*time.Second, "pbxha started", func() bool { return strings.Contains(log.String(), "pbxha started") })
	reload <- syscall.SIGHUP
	testenv.WaitFor(t, 10*time.Second, "the reload refused", func() bool {
		return strings.Contains(log.String(), `msg="config reload refused; keeping the running config" err="test: no config"`)
	})
	stop <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("got %v, want nil after a stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of a stop request")
	}
	if !strings.Contains(log.String(), "msg=stopping signal=terminated") {
		t.Errorf("got log\n%s\nwant the stop with its signal", log.String())
	}
}
