package test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/testenv"
)

// TestTakeoverESL runs a pair on loopback (no VIP, no database) where each
// node has a test PBX and a FreeSWITCH event socket double, probed by an esl
// probe, and pbx.takeover_esl: ["sofia recover"]. When node-a's PBX hangs,
// node-b takes over and sends "api sofia recover" to its own double, not to
// node-a's. Then node-a's double answers -ERR, and node-b's PBX hangs: node-a
// takes over all the same, logs the failed command with the reply and
// raises takeover_step_failed.
func TestTakeoverESL(t *testing.T) {
	pbxha, testpbx := build(t)
	pbxA, pbxB := testenv.StartTestPBX(t, testpbx), testenv.StartTestPBX(t, testpbx)
	sipA, sipB := pbxA.UDP, pbxB.UDP
	double := func(recovered string) *esltest.Server {
		s, err := esltest.New(esltest.Options{Password: "s3cret", Responses: map[string]string{
			"status":        readFixture(t, "../esl/testdata/status-1.10.txt"),
			"sofia status":  readFixture(t, "../esl/testdata/sofia-status-1.10.txt"),
			"sofia recover": recovered, // as mod_sofia answers it
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	eslA, eslB := double("No calls to recover.\n"), double("Recovered 2 call(s)\n")
	tb := startTieBreaker(t, nil, "127.0.0.1:0")
	key := newPairKey(t)
	hbA, hbB := testenv.FreeAddrOn(t, "127.0.0.1"), testenv.FreeAddrOn(t, "127.0.0.2")

	dirs := map[string]string{}
	node := func(name, sip, esl, local, peer string) (string, *proc) {
		socket, dir, p := loopbackNode{Name: name, SIP: sip, Local: local, Peer: peer, Key: key, TieBreaker: tb,
			Probes: fmt.Sprintf("  esl:\n    - {name: fs, address: %q, password: s3cret, interval: 1s, timeout: 500ms, critical: false}\n", esl),
			Top:    "pbx:\n  takeover_esl: [\"sofia recover\"]\n  takeover_esl_timeout: 5s\n"}.start(t, pbxha)
		dirs[name] = dir
		return socket, p
	}
	role := func(socket string) (string, string) {
		st, err := status(t, socket)
		if err != nil {
			return "unreachable", ""
		}
		return st.Role, st.Health
	}
	// recovers counts the "api sofia recover" a double received; the double
	// records api commands only on an authenticated connection.
	recovers := func(s *esltest.Server) int {
		n := 0
		for _, c := range s.Commands() {
			if c == "sofia recover" {
				n++
			}
		}
		return n
	}

	// node-a starts alone and takes over (the peer unheard after init_dead),
	// sending sofia recover to its own double; node-b then joins as standby.
	sockA, dA := node("node-a", sipA, eslA.Addr(), hbA, hbB)
	var dB *proc
	dump := func() {
		t.Logf("node-a:\n%s", dA.output())
		if dB != nil {
			t.Logf("node-b:\n%s", dB.output())
		}
	}
	waitHealthyRoles := func(what string, sockB, a, b string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ra, ha := role(sockA)
			rb, hb := role(sockB)
			if ra == a && rb == b && ha == "healthy" && hb == "healthy" {
				return
			}
			if time.Now().After(deadline) {
				dump()
				t.Fatalf("timed out waiting for %s: node-a %s (%s), node-b %s (%s)", what, ra, ha, rb, hb)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitRoles(t, 20*time.Second, "node-a primary", dump, []string{sockA}, "primary")
	if n := recovers(eslA); n != 1 {
		t.Errorf("node-a's double got %d sofia recover after node-a's first takeover, want 1", n)
	}
	var sockB string
	sockB, dB = node("node-b", sipB, eslB.Addr(), hbB, hbA)
	waitHealthyRoles("node-a primary, node-b standby", sockB, "primary", "standby")
	if n := recovers(eslB); n != 0 {
		t.Errorf("node-b's double got %d sofia recover while node-b stood by, want 0", n)
	}

	// node-a's PBX hangs: node-b takes over and recovers the calls on its PBX.
	testenv.Freeze(t, pbxA.PID)
	waitRoles(t, 20*time.Second, "node-b primary after node-a's PBX hung", dump, []string{sockA, sockB}, "standby", "primary")
	if n := recovers(eslB); n != 1 {
		dump()
		t.Errorf("node-b's double got %d sofia recover after node-b took over, want 1", n)
	}
	if n := recovers(eslA); n != 1 {
		t.Errorf("node-a's double got %d sofia recover, want still 1: node-b's takeover must not reach node-a's PBX", n)
	}
	if _, rejected := eslB.Logins(); rejected != 0 {
		t.Errorf("node-b's double rejected %d logins, want 0", rejected)
	}
	if out := dB.output(); !strings.Contains(out, `msg="takeover: PBX command sent"`) || !strings.Contains(out, `command="sofia recover" reply="Recovered 2 call(s)"`) {
		dump()
		t.Errorf("node-b's log lacks the sent command with its reply")
	}

	// node-a's FreeSWITCH now fails the command; node-b's PBX hangs. node-a
	// takes over all the same and says what failed.
	testenv.Thaw(t, pbxA.PID)
	waitHealthyRoles("node-a healthy standby again", sockB, "standby", "primary")
	eslA.SetResponse("sofia recover", "-ERR sofia Command not found!\n")
	testenv.Freeze(t, pbxB.PID)
	waitRoles(t, 20*time.Second, "node-a primary although its PBX command failed", dump, []string{sockA, sockB}, "primary", "standby")
	testenv.Thaw(t, pbxB.PID)
	if n := recovers(eslA); n != 2 {
		t.Errorf("node-a's double got %d sofia recover, want 2 (its first takeover and this one)", n)
	}
	if n := recovers(eslB); n != 1 {
		t.Errorf("node-b's double got %d sofia recover, want still 1", n)
	}
	out := dA.output()
	if !strings.Contains(out, `level=WARN msg="takeover: PBX command failed; the takeover goes on"`) ||
		!strings.Contains(out, `command="sofia recover" reply="-ERR sofia Command not found!"`) {
		dump()
		t.Errorf("node-a's log lacks the failed command with its -ERR reply")
	}
	var failed []event.Event
	testenv.WaitFor(t, 10*time.Second, "takeover_step_failed in node-a's event log", func() bool {
		evs, _ := event.ReadLog(filepath.Join(dirs["node-a"], "events.jsonl"), time.Time{})
		failed = failed[:0]
		for _, e := range evs {
			if e.Kind == event.TakeoverStepFailed {
				failed = append(failed, e)
			}
		}
		return len(failed) > 0
	})
	if e := failed[0]; len(failed) != 1 || e.Severity != event.Warning ||
		!strings.Contains(e.Summary, "api sofia recover: -ERR sofia Command not found!") || e.Details["step"] != "pbx_commands" {
		t.Errorf("got takeover_step_failed events %+v, want one warning with the command and its reply", failed)
	}
}
