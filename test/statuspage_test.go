package test

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "TestStatusPageInChromium: write docs/statuspage.png")

// pageNode is a node of the loopback pair (loopbackNode) with its test
// PBX and its metrics listener, where the status page is served.
type pageNode struct {
	socket, metrics string
	pbx             *testenv.TestPBX
	d               *proc
}

func startPagePair(t *testing.T, pbxha, testpbx string) (a, b *pageNode) {
	t.Helper()
	key, tb := newPairKey(t), testenv.TieBreaker(t)
	hbA, hbB := testenv.FreeAddr(t), testenv.FreeAddr(t)
	mk := func(name, local, peer string) *pageNode {
		n := &pageNode{pbx: testenv.StartTestPBX(t, testpbx), metrics: testenv.FreeAddr(t)}
		n.socket, _, n.d = loopbackNode{Name: name, SIP: n.pbx.UDP, Local: local, Peer: peer, Key: key, TieBreaker: tb,
			Failover: "  preferred_node: node-a\n", Top: "metrics: {listen: \"" + n.metrics + "\"}\nlog: {format: json}\n"}.start(t, pbxha)
		return n
	}
	return mk("node-a", hbA, hbB), mk("node-b", hbB, hbA)
}

func (n *pageNode) role(t *testing.T) string {
	st, err := status(t, n.socket)
	if err != nil {
		return "unreachable"
	}
	return st.Role
}

// TestStatusPageInChromium runs a pair on loopback, fails the primary's
// PBX over to the standby, and loads the standby's status page in headless
// Chromium: the rendered page must show both nodes, their roles, the
// takeover's timeline and the failover event. With -update-screenshot it
// writes docs/statuspage.png.
func TestStatusPageInChromium(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium")
	pbxha, testpbx := build(t)
	a, b := startPagePair(t, pbxha, testpbx)
	testenv.WaitFor(t, 30*time.Second, "node-a primary, node-b standby", func() bool { return a.role(t) == "primary" && b.role(t) == "standby" })

	testenv.Freeze(t, a.pbx.PID)
	testenv.WaitFor(t, 30*time.Second, "node-b primary after node-a's PBX hung", func() bool { return b.role(t) == "primary" })
	testenv.Thaw(t, a.pbx.PID)
	testenv.WaitFor(t, 30*time.Second, "node-a standby and healthy", func() bool {
		st, err := status(t, a.socket)
		return err == nil && st.Role == "standby" && st.Health == "healthy"
	})
	url := "http://" + b.metrics + "/"
	testenv.WaitFor(t, 10*time.Second, "the failover on node-b's page", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return strings.Contains(string(body), "took over")
	})

	profile := t.TempDir()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile}
	run := func(extra ...string) string {
		t.Helper()
		cmd := exec.Command(chromium, append(append(append([]string{}, flags...), extra...), url)...)
		cmd.Env = append(os.Environ(), "HOME="+profile)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.Output(); close(done) }()
		select {
		case <-done:
		case <-time.After(90 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			t.Fatalf("chromium %v did not finish within 90s", extra)
		}
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, out)
		}
		return string(out)
	}
	dom := run("--dump-dom")
	for _, want := range []string{"<b>node-a</b>", "<b>node-b</b>", `class="badge primary">primary`, `class="badge standby">standby`,
		"Last takeover", "node-b took over at epoch", "ready", ">failover<"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page chromium rendered lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	shot := filepath.Join(profile, "statuspage.png")
	run("--window-size=1280,1000", "--hide-scrollbars", "--screenshot="+shot)
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot: %d bytes, %v; want a PNG", len(png), err)
	}
	// The pair logged in JSON through a failover: every line is one object
	// with unique keys ("node" and "component" are added twice by the
	// wiring), as strict log shippers require.
	for _, n := range []*pageNode{a, b} {
		for _, line := range strings.Split(strings.TrimSpace(n.d.output()), "\n") {
			if err := uniqueKeys(line); err != nil {
				t.Errorf("log line %s: %v", line, err)
			}
		}
	}
	if *updateScreenshot {
		if err := os.WriteFile("../docs/statuspage.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// uniqueKeys decodes one JSON object and fails on a repeated top-level key.
func uniqueKeys(line string) error {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k := fmt.Sprint(tok)
		if seen[k] {
			return fmt.Errorf("key %q repeated", k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
	}
	return nil
}
