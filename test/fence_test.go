package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/internal/testenv"
)

// fenceScript records the environment it was run with and the number of
// runs, then fences (exit 0) only once the file "allow" exists beside it.
const fenceScript = `#!/bin/sh
dir=$(dirname "$0")
env | grep ^PBXHA_ | sort > "$dir/fence.env"
echo run >> "$dir/fence.runs"
echo "fencing $PBXHA_PEER at $PBXHA_PEER_HOST"
if [ ! -e "$dir/allow" ]; then
	echo "power off refused: no allow file" >&2
	exit 1
fi
echo "power is off"
`

// TestFenceBlocksTakeover runs a pair on loopback (no VIP, no database) with
// a fence command on both nodes. When node-a's pbxha is killed, node-b runs
// its fence command, which fails: node-b stays standby and says why, trying
// again, until the fence works; then it takes over. The command sees the
// event in its environment.
func TestFenceBlocksTakeover(t *testing.T) {
	pbxha, testpbx := build(t)
	sipA, sipB := testenv.StartTestPBX(t, testpbx).UDP, testenv.StartTestPBX(t, testpbx).UDP
	tb := startTieBreaker(t, nil, "127.0.0.1:0")
	key := newPairKey(t)
	hbA, hbB := testenv.FreeAddrOn(t, "127.0.0.1"), testenv.FreeAddrOn(t, "127.0.0.2")

	dirs := map[string]string{}
	// The fence command is a script in the node's state directory.
	writeFence := func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "fence.sh"), []byte(fenceScript), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	node := func(name, sip, local, peer string) (string, *proc) {
		socket, dir, p := loopbackNode{Name: name, SIP: sip, Local: local, Peer: peer, Key: key, TieBreaker: tb, InitDead: "3s",
			Failover: "  fence_command: [\"{dir}/fence.sh\"]\n  fence_timeout: 5s\n", Setup: writeFence}.start(t, pbxha)
		dirs[name] = dir
		return socket, p
	}
	sockA, dA := node("node-a", sipA, hbA, hbB)
	sockB, dB := node("node-b", sipB, hbB, hbA)
	// node-a could fence node-b at start-up (should node-b be slow to be
	// heard); node-b's fence fails until the test allows it.
	if err := os.WriteFile(filepath.Join(dirs["node-a"], "allow"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dump := func() { t.Logf("node-a:\n%s\nnode-b:\n%s", dA.output(), dB.output()) }
	pairOf := func(socket string) (string, *control.Pair) {
		st, err := status(t, socket)
		if err != nil || st.Pair == nil {
			return "unreachable", &control.Pair{}
		}
		return st.Role, st.Pair
	}
	waitRoles(t, 20*time.Second, "the pair to form", dump, []string{sockA, sockB}, "primary", "standby")

	if err := dA.cmd.Process.Kill(); err != nil { // SIGKILL: node-a goes silent at once
		t.Fatal(err)
	}
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(dirs["node-b"], "fence.runs"))
		return strings.Count(string(b), "run\n")
	}
	// While the fence fails, node-b stays standby, says so, and tries again.
	var reason, lastErr string
	err := testenv.Poll(20*time.Second, func() (bool, string) {
		role, p := pairOf(sockB)
		if role != "standby" {
			dump()
			t.Fatalf("node-b is %s while its fence fails (%d runs), want standby", role, runs())
		}
		if strings.Contains(p.Reason, "fencing node-a failed: not taking over") {
			reason, lastErr = p.Reason, p.LastError
		}
		return reason != "" && runs() >= 2, fmt.Sprintf("%d fence runs, reason %q", runs(), p.Reason)
	})
	if err != nil {
		dump()
		t.Fatalf("node-b: %v; want a failed fence in the reason and a second run", err)
	}
	if !strings.Contains(lastErr, "exit status 1") || !strings.Contains(lastErr, "no allow file") {
		t.Errorf("node-b last error %q, want the exit status and the command's output", lastErr)
	}
	if out := dB.output(); !strings.Contains(out, "power off refused: no allow file") {
		dump()
		t.Errorf("node-b's log lacks the failed fence's output")
	}

	if err := os.WriteFile(filepath.Join(dirs["node-b"], "allow"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitRoles(t, 15*time.Second, "node-b primary after the fence was allowed", dump, []string{sockB}, "primary")
	if !strings.Contains(dB.output(), "peer fenced") {
		t.Errorf("node-b's log lacks the successful fence")
	}
	env, err := os.ReadFile(filepath.Join(dirs["node-b"], "fence.env"))
	if err != nil {
		t.Fatalf("fence command left no environment record: %v", err)
	}
	for _, w := range []string{"PBXHA_EVENT=fence", "PBXHA_NODE=node-b", "PBXHA_PEER=node-a", "PBXHA_PEER_HOST=127.0.0.1", "PBXHA_EPOCH=1"} {
		if !strings.Contains(string(env), w+"\n") {
			t.Errorf("fence environment lacks %s:\n%s", w, env)
		}
	}
	if !strings.Contains(string(env), "PBXHA_REASON=node-a silent since") {
		t.Errorf("fence environment lacks the decision's reason:\n%s", env)
	}
}
