package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T, st Status) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "pbxha.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, NewHandler(API{Status: func() Status { return st }}), slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path
}

func TestStatusRoundTrip(t *testing.T) {
	want := Status{SchemaVersion: SchemaVersion, Node: "node-a", Role: "primary", Health: "healthy",
		Probes: []Probe{{Name: "sip", Kind: "sip", State: "ok", Last: &Result{Status: "ok", Code: 200, LatencyMS: 0.4}}}}
	path := startServer(t, want)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != SocketMode {
		t.Errorf("got socket mode %o, want %o", got, SocketMode)
	}
	got, err := NewClient(path).Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Node != want.Node || len(got.Probes) != 1 || got.Probes[0].Last.Code != 200 {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestListenRefusesLiveSocketAndReplacesStale(t *testing.T) {
	path := startServer(t, Status{})
	if ln, err := Listen(path); err == nil {
		ln.Close()
		t.Fatal("second Listen on a live socket succeeded, want an error")
	}

	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // leaves the file behind, like a daemon killed with SIGKILL
	ln2, err := Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln2.Close()
}

// TestListenKeepsWhatIsNotASocket: a regular file, a directory or a link
// at the socket path is refused and left in place, never removed.
func TestListenKeepsWhatIsNotASocket(t *testing.T) {
	cases := []struct {
		name string
		make func(path string) error
		what string
	}{
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("data\n"), 0o600) }, "a regular file"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "a directory"},
		{"symbolic link", func(p string) error { return os.Symlink("/etc/hostname", p) }, "a symbolic link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pbxha.sock")
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			ln, err := Listen(path)
			if err == nil {
				ln.Close()
				t.Fatalf("Listen over %s succeeded, want an error", tc.what)
			}
			if want := path + " exists and is " + tc.what + ", not a socket"; !strings.Contains(err.Error(), want) {
				t.Errorf("got %q, want it to say %q", err, want)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Errorf("got %v, want %s left in place", err, tc.what)
			}
		})
	}
}

func TestNoDaemon(t *testing.T) {
	_, err := NewClient(filepath.Join(t.TempDir(), "none.sock")).Status(t.Context())
	if !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("got %v, want ErrNoDaemon", err)
	}
}

func TestGarbageOnSocketIsDropped(t *testing.T) {
	path := startServer(t, Status{Node: "still-here"})
	garbage := [][]byte{
		[]byte("\x00\x01\x02\xff\xfe garbage\r\n\r\n"),
		[]byte("GET /v1/status HTTP/9.9\r\nHost: \x7f\r\n\r\n"),
		[]byte("POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
		[]byte("GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
	}
	for _, g := range garbage {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(g)
		io.Copy(io.Discard, c) // the server answers 400/404/405 or closes
		c.Close()
	}
	got, err := NewClient(path).Status(t.Context())
	if err != nil || got.Node != "still-here" {
		t.Fatalf("after garbage: got %+v, %v; want the status", got, err)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	path := startServer(t, Status{})
	c := NewClient(path)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://pbxha/v1/nope", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("got %d, want 404", resp.StatusCode)
	}
}

func TestActions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	api := API{
		Status: func() Status { return Status{} },
		PBX: func(_ context.Context, action string) error {
			got = append(got, action)
			if action == "start" {
				return errors.New("supervisor: start: a PBX is already running (pid 42)")
			}
			return nil
		},
		Maintenance: func(on bool) error { got = append(got, fmt.Sprint("maintenance ", on)); return nil },
		Restart:     func() error { got = append(got, "daemon restart"); return nil },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, NewHandler(api), slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()

	c := NewClient(path)
	if err := c.PBX(t.Context(), "restart"); err != nil {
		t.Errorf("restart: %v", err)
	}
	var ae *ActionError
	if err := c.PBX(t.Context(), "start"); !errors.As(err, &ae) || ae.Code != 500 || !strings.Contains(ae.Msg, "already running") {
		t.Errorf("start: got %v, want the supervisor's refusal with 500", err)
	}
	if err := c.PBX(t.Context(), "explode"); !errors.As(err, &ae) || ae.Code != 400 {
		t.Errorf("unknown action: got %v, want 400", err)
	}
	if err := c.Maintenance(t.Context(), true); err != nil {
		t.Errorf("maintenance on: %v", err)
	}
	if err := c.Restart(t.Context()); err != nil {
		t.Errorf("daemon restart: %v", err)
	}
	if want := []string{"restart", "start", "maintenance true", "daemon restart"}; !slices.Equal(got, want) {
		t.Errorf("got calls %v, want %v", got, want)
	}

	// Without a supervisor, PBX actions are refused with a reason.
	path2 := filepath.Join(t.TempDir(), "b.sock")
	ln2, _ := Listen(path2)
	go Serve(ctx, ln2, NewHandler(API{Status: func() Status { return Status{} }}), slog.New(slog.DiscardHandler))
	if err := NewClient(path2).PBX(t.Context(), "restart"); !errors.As(err, &ae) || ae.Code != 404 || !strings.Contains(ae.Msg, "not supervised") {
		t.Errorf("no supervisor: got %v, want 404 not supervised", err)
	}
	if err := NewClient(path2).Restart(t.Context()); !errors.As(err, &ae) || ae.Code != 404 {
		t.Errorf("restart without the action: got %v, want 404", err)
	}
}

// TestSwitchoverTimeout: the client's timeout reaches the daemon, which
// bounds its wait by drain + timeout and answers with the outcome, before the
// caller's own deadline; a malformed timeout is refused.
func TestSwitchoverTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	api := API{
		Status: func() Status { return Status{} },
		Switchover: func(ctx context.Context, to string, drain time.Duration, force bool) (SwitchoverResult, error) {
			<-ctx.Done() // a move that never comes
			return SwitchoverResult{Outcome: "timed out", Target: to, Reason: "switchover 1 to " + to + " waits"}, nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, NewHandler(api), slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()

	c := NewClient(path)
	cctx, ccancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer ccancel()
	res, err := c.Switchover(cctx, "node-b", 0, 200*time.Millisecond, false)
	if err != nil || res.Outcome != "timed out" || res.Target != "node-b" {
		t.Errorf("got %+v, %v; want outcome timed out for node-b from the daemon", res, err)
	}
	if cctx.Err() != nil {
		t.Errorf("the caller's deadline passed: want the daemon to answer at its 200ms timeout")
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://pbxha/v1/switchover?timeout=soon", nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "timeout must be a duration") {
		t.Errorf("timeout=soon: got %d %s, want 400 naming the timeout", resp.StatusCode, body)
	}
}

// TestRebuild: the rebuild endpoint answers ok once the daemon started
// one, even after the socket's write timeout, 409 with the reason when the
// daemon refuses, 404 when rebuilds are not configured.
func TestRebuild(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		rebuild func(context.Context) error
		code    int
		msg     string
	}{
		{"started", func(context.Context) error { return nil }, 0, ""},
		// The checks before a start may take longer than the socket's 5s
		// write timeout (a primary slow to answer).
		{"slow start", func(context.Context) error { time.Sleep(6 * time.Second); return nil }, 0, ""},
		{"refused", func(context.Context) error { return fmt.Errorf("rebuild: this node is the primary: %w", ErrRefused) }, 409, "this node is the primary"},
		{"failed", func(context.Context) error { return errors.New("rebuild: journal: disk full") }, 500, "disk full"},
		{"not configured", nil, 404, "not configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".sock")
			ln, err := Listen(path)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- Serve(ctx, ln, NewHandler(API{Status: func() Status { return Status{} }, Rebuild: tc.rebuild}), slog.New(slog.DiscardHandler))
			}()
			defer func() { cancel(); <-done }()
			err = NewClient(path).Rebuild(t.Context())
			var ae *ActionError
			switch {
			case tc.code == 0 && err != nil:
				t.Errorf("got %v, want ok", err)
			case tc.code != 0 && (!errors.As(err, &ae) || ae.Code != tc.code || !strings.Contains(ae.Msg, tc.msg)):
				t.Errorf("got %v, want %d saying %q", err, tc.code, tc.msg)
			}
		})
	}
}
