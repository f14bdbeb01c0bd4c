package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// rssKiB returns a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// TestMetricsFloodSparesProbes opens thousands of idle keep-alive
// connections to a running daemon's metrics listener: its file
// descriptors and memory stay bounded, the SIP probe never fails, a scrape
// and the control socket still answer. Under a file descriptor limit of
// 200 this flood once made the SIP probe fail with "too many open files".
func TestMetricsFloodSparesProbes(t *testing.T) {
	pbxha, testpbx := build(t)
	cases := []struct {
		name    string
		fdLimit int // 0: the test's own
		conns   int
		maxFDs  int
		maxRSS  int // growth, KiB
	}{
		{name: "fd limit 200", fdLimit: 200, conns: 400, maxFDs: 120},
		{name: "5000 idle connections", conns: 5000, maxFDs: 150, maxRSS: 80 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pbx := testenv.StartTestPBX(t, testpbx)
			dir := t.TempDir()
			cfgPath, socket := filepath.Join(dir, "pbxha.yaml"), filepath.Join(dir, "pbxha.sock")
			metricsAddr := testenv.FreeAddr(t)
			writeConfig(t, cfgPath, socket, pbx.UDP, "metrics:\n  listen: "+metricsAddr+"\n")
			args := []string{"run", "-c", cfgPath}
			name := pbxha
			if tc.fdLimit > 0 {
				name, args = "/bin/sh", append([]string{"-c", `ulimit -n ` + strconv.Itoa(tc.fdLimit) + ` && exec "$0" "$@"`, pbxha}, args...)
			}
			d := start(t, nil, name, args...)
			pid := d.cmd.Process.Pid
			testenv.WaitFor(t, 20*time.Second, "probe pbx ok", func() bool { return probeState(t, socket, "pbx") == "ok" })
			scrape := func() error {
				cl := &http.Client{Timeout: 10 * time.Second}
				res, err := cl.Get("http://" + metricsAddr + "/metrics")
				if err != nil {
					return err
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				if res.StatusCode != 200 || !strings.Contains(string(b), "pbxha_probe_up") {
					return fmt.Errorf("got status %d, want 200 with pbxha_probe_up", res.StatusCode)
				}
				return nil
			}
			if err := scrape(); err != nil {
				t.Fatalf("scrape before the flood: %v", err)
			}
			rss0 := rssKiB(t, pid)
			checks0 := 0
			if st, err := status(t, socket); err == nil {
				checks0 = st.Probes[0].Checks
			}

			// The flood: each connection sends one request, leaves the
			// answer unread, and stays open.
			var (
				mu    sync.Mutex
				conns []net.Conn
				wg    sync.WaitGroup
				next  = make(chan struct{})
			)
			t.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				for _, c := range conns {
					c.Close()
				}
			})
			for range 32 {
				wg.Go(func() {
					for range next {
						c, err := net.DialTimeout("tcp", metricsAddr, 5*time.Second)
						if err != nil {
							continue // a full backlog: the kernel's business, not the daemon's
						}
						_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
						mu.Lock()
						conns = append(conns, c)
						mu.Unlock()
					}
				})
			}
			for range tc.conns {
				next <- struct{}{}
			}
			close(next)
			wg.Wait()

			// Several probe intervals under the flood: the probe never
			// fails, the daemon's descriptors stay bounded.
			peakFDs := 0
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				st, err := status(t, socket)
				if err != nil {
					t.Fatalf("control socket under the flood: %v", err)
				}
				p := st.Probes[0]
				if p.State != "ok" || p.ConsecutiveFailures > 0 {
					t.Fatalf("under the flood got probe %s with %d failures (%+v), want ok\n%s", p.State, p.ConsecutiveFailures, p.Last, d.output())
				}
				peakFDs = max(peakFDs, testenv.OpenFDs(t, pid))
				time.Sleep(100 * time.Millisecond) // pacing the samples, not waiting for a state
			}
			if err := scrape(); err != nil {
				t.Errorf("scrape under the flood: %v", err)
			}
			st, err := status(t, socket)
			if err != nil || st.Probes[0].Checks <= checks0+5 {
				t.Errorf("got %v checks (from %d), want the probe running on under the flood", st.Probes, checks0)
			}
			rss := rssKiB(t, pid)
			t.Logf("%d connections: daemon fds peak %d, RSS %d → %d KiB", len(conns), peakFDs, rss0, rss)
			if peakFDs > tc.maxFDs {
				t.Errorf("got %d open descriptors under the flood, want at most %d", peakFDs, tc.maxFDs)
			}
			if tc.maxRSS > 0 && rss-rss0 > tc.maxRSS {
				t.Errorf("got RSS growth %d KiB, want at most %d", rss-rss0, tc.maxRSS)
			}
			if logs := d.output(); strings.Contains(logs, "too many open files") {
				t.Errorf("daemon logged too many open files:\n%s", lastLines(logs, 20))
			}
		})
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
