package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
)

// pbxhaBin is the pbxha program built by TestMain: the pair demo runs it
// for its nodes and test PBXs, and TestDemoSingle runs `pbxha demo` itself.
var pbxhaBin string

// TestMain builds cmd/pbxha once (with the race detector when the tests
// have it), so that the demo's children are the real program.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pbxha-demo-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pbxhaBin = filepath.Join(dir, "pbxha")
	args := []string{"build", "-o", pbxhaBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "github.com/pbxha/pbxha/cmd/pbxha")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build pbxha: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runPair runs the pair demo with opts and the built pbxha, and returns its
// output.
func runPair(t *testing.T, o PairOptions) string {
	t.Helper()
	o.Exe = pbxhaBin
	var out bytes.Buffer
	if err := RunPair(t.Context(), &out, o); err != nil {
		t.Fatalf("got %v, want nil\noutput:\n%s", err, out.String())
	}
	return out.String()
}

// checkPairStory asserts the story the two-node demo prints: a primary, a
// takeover after the hang with its timeline and the client's outage, the
// recovered node as standby, a switchover back, and the summary.
func checkPairStory(t *testing.T, text string) {
	t.Helper()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`demo .* (node-[ab]) is primary \(epoch 1\) and holds`),
		regexp.MustCompile(`demo .* node-[ab]'s PBX hangs now: SIGSTOP to pid \d+`),
		regexp.MustCompile(`(?m)^failover timeline, (node-[ab]) → (node-[ab]) \(ms after the PBX hung\):$`),
		regexp.MustCompile(`(?m)^ +\+\d+ ms  node-[ab] +probe sip ok → failed`),
		regexp.MustCompile(`(?m)^ +\+\d+ ms  node-[ab] +detected: no live primary$`),
		regexp.MustCompile(`(?m)^ +\+\d+ ms  node-[ab] +decided: take over at epoch 2$`),
		regexp.MustCompile(`(?m)^ +\+\d+ ms  node-[ab] +VIP up `),
		regexp.MustCompile(`(?m)^ +\+\d+ ms  node-[ab] +ready: primary, failover event raised$`),
		regexp.MustCompile(`(?m)^ +\+\d+ ms  client +answered again.*: out for \d+ ms$`),
		regexp.MustCompile(`node-[ab] is a healthy standby again; node-[ab] stays primary`),
		regexp.MustCompile(`switchover to node-[ab]: done in \d+ ms`),
		regexp.MustCompile(`(?m)^switchover timeline, node-[ab] → node-[ab] \(ms after the switchover was asked\):$`),
		regexp.MustCompile(`(?m)^ +\+\d+ ms  node-[ab] +ready: primary, switchover event raised$`),
		regexp.MustCompile(`(?m)^  failover +node-[ab] → node-[ab] at epoch 2: node-[ab] ready \d+ ms after the PBX hung .*; client outage [1-9]\d* ms$`),
		regexp.MustCompile(`(?m)^  switchover node-[ab] → node-[ab] at epoch 3: `),
		regexp.MustCompile(`(?m)^  node-[ab] +primary, healthy, epoch 3$`),
		regexp.MustCompile(`(?m)^  node-[ab] +standby, healthy, epoch 3$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("demo output lacks %s:\n%s", want, text)
		}
	}
	// The takeover went from the first primary to the other node, and the
	// switchover back.
	first := regexp.MustCompile(`(node-[ab]) is primary \(epoch 1\)`).FindStringSubmatch(text)
	fo := regexp.MustCompile(`failover timeline, (node-[ab]) → (node-[ab])`).FindStringSubmatch(text)
	so := regexp.MustCompile(`switchover timeline, (node-[ab]) → (node-[ab])`).FindStringSubmatch(text)
	if first != nil && fo != nil && so != nil {
		if fo[1] != first[1] || fo[2] == first[1] || so[1] != fo[2] || so[2] != first[1] {
			t.Errorf("got primary %s, failover %s → %s, switchover %s → %s; want the failover away from the first primary and the switchover back",
				first[1], fo[1], fo[2], so[1], so[2])
		}
	}
	if strings.Contains(text, "both nodes hold the VIP") {
		t.Errorf("the client saw two VIP holders:\n%s", text)
	}
}

// TestDemoPairLoopback runs the two-node demo on loopback with the
// simulated VIP, as a non-root user gets it.
func TestDemoPairLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 10s")
	}
	text := runPair(t, PairOptions{Mode: ModeLoopback, Bound: 35 * time.Second})
	if !strings.Contains(text, "mode loopback") || !strings.Contains(text, "(node-a's PBX)") && !strings.Contains(text, "(node-b's PBX)") {
		t.Errorf("not the loopback mode, or the client did not name who answered:\n%s", text)
	}
	checkPairStory(t, text)
}

// TestDemoPairNamespaces runs the two-node demo in network namespaces with
// the real VIP, as root gets it, and checks that it removed them.
func TestDemoPairNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 10s")
	}
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	text := runPair(t, PairOptions{Mode: ModeNetns, Bound: 35 * time.Second})
	if !strings.Contains(text, "mode netns") || !strings.Contains(text, "VIP up (198.18.0.100)") {
		t.Errorf("not the netns mode with the VIP 198.18.0.100:\n%s", text)
	}
	checkPairStory(t, text)
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if pid, ok := netlab.Creator(e.Name()); ok && pid == os.Getpid() {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}

// TestDemoSingle runs the one-node demo: the embedded default config must
// see the test PBX hang and recover. The sidecar runs inside the demo's
// process, lent by cmd/pbxha (RunDaemon, WriteStatus), so the test runs
// `pbxha demo --single` itself.
func TestDemoSingle(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes 10s")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, pbxhaBin, "demo", "--single", "--duration", "10s")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("got %v, want exit 0\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{
		"embedded default config",
		"the test PBX hangs now",
		"from=ok to=failed",
		"the test PBX recovers",
		"from=failed to=ok",
		"final status",
		"health healthy",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "from=ok to=failed") > strings.Index(text, "from=failed to=ok") {
		t.Errorf("recovery logged before detection:\n%s", text)
	}
}
