package test

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// callLoad is a SIPp client in the client's namespace placing calls to the
// VIP with test/testdata/sipp-calls.xml: INVITE to the VIP, ACK and BYE to
// the answer's Contact, each call held for a while.
type callLoad struct {
	cmd  *exec.Cmd
	dir  string
	out  string
	done chan error
}

// callResult is what SIPp counted over a whole load.
type callResult struct {
	Attempts     int // INVITEs sent (first transmissions)
	Answered     int // 200 OK to the INVITE
	Byes         int // BYEs sent: calls that were established and then hung up
	ByesAnswered int // 200 OK to the BYE
}

// Failed is the call attempts that got no 200: timeout, 4xx-6xx, no final
// answer.
func (r callResult) Failed() int { return r.Attempts - r.Answered }

// Lost is the established calls whose BYE was not answered 200: the dialog
// was gone (481) or nobody answered.
func (r callResult) Lost() int { return r.Byes - r.ByesAnswered }

func (r callResult) String() string {
	return fmt.Sprintf("%d attempts, %d failed, %d established calls ended, %d lost", r.Attempts, r.Failed(), r.Byes, r.Lost())
}

// startCalls starts SIPp in the client's namespace: calls calls at rate per
// second to the VIP, each held for hold. It skips or fails (testenv) without
// sipp (Debian's sip-tester, installed by test/run.sh).
func startCalls(t testing.TB, f *pairFixture, rate, calls int, hold time.Duration) *callLoad {
	t.Helper()
	sipp := testenv.LookPath(t, "sipp", "/usr/bin")
	scenario, err := filepath.Abs("testdata/sipp-calls.xml")
	if err != nil {
		t.Fatal(err)
	}
	l := &callLoad{dir: t.TempDir(), done: make(chan error, 1)}
	l.out = filepath.Join(l.dir, "sipp.out")
	// Bounded: every call ends within 2 × 4 s of timeouts plus its hold.
	limit := time.Duration(calls/rate)*time.Second + hold + 30*time.Second
	script := fmt.Sprintf("cd %s && exec %s -sf %s %s:5060 -i %s -p 5070 -r %d -d %d -m %d -nostdin -trace_counts -timeout %ds -timeout_error >%s 2>&1",
		l.dir, sipp, scenario, pairVIP, f.client.IP, rate, hold.Milliseconds(), calls, int(limit.Seconds()), l.out)
	if l.cmd, err = f.client.Start("sh", "-c", script); err != nil {
		t.Fatal(err)
	}
	go func() { l.done <- l.cmd.Wait() }()
	return l
}

// wait waits for SIPp to end (within its own -timeout and a margin) and
// returns its counts.
func (l *callLoad) wait(t testing.TB) callResult {
	t.Helper()
	select {
	case <-l.done: // exit 1 when a call failed: the counts tell
	case <-time.After(5 * time.Minute):
		_ = l.cmd.Process.Kill()
		<-l.done
		t.Fatalf("sipp did not end within 5 minutes")
	}
	r, err := readCallCounts(l.dir)
	if err != nil {
		out, _ := os.ReadFile(l.out)
		t.Fatalf("sipp: %v\n%s", err, out)
	}
	return r
}

// readCallCounts reads the last line of the -trace_counts file in dir: the
// INVITEs sent, the 200s to them (the first 200 received), the BYEs sent
// and the 200s to them (the last 200 received).
func readCallCounts(dir string) (callResult, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_counts.csv"))
	if len(files) != 1 {
		return callResult{}, fmt.Errorf("want one counts file in %s, found %d", dir, len(files))
	}
	fh, err := os.Open(files[0])
	if err != nil {
		return callResult{}, err
	}
	defer fh.Close()
	var header, last []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSuffix(sc.Text(), ";"), ";")
		if header == nil {
			header = fields
			continue
		}
		last = fields
	}
	if len(last) != len(header) {
		return callResult{}, fmt.Errorf("counts file %s: got %d fields in the last line, want %d", files[0], len(last), len(header))
	}
	var r callResult
	firstOK, lastOK := -1, -1
	for i, h := range header {
		n, _ := strconv.Atoi(last[i])
		switch {
		case strings.HasSuffix(h, "_INVITE_Sent"):
			r.Attempts = n
		case strings.HasSuffix(h, "_BYE_Sent"):
			r.Byes = n
		case strings.HasSuffix(h, "_200_Recv"):
			if firstOK < 0 {
				firstOK = i
			}
			lastOK = i
		}
	}
	if firstOK < 0 || firstOK == lastOK {
		return callResult{}, fmt.Errorf("counts file %s: no 200 for the INVITE and one for the BYE in %q", files[0], header)
	}
	r.Answered, _ = strconv.Atoi(last[firstOK])
	r.ByesAnswered, _ = strconv.Atoi(last[lastOK])
	return r, nil
}

// callsOn returns the calls n's esl probe counted last, or -1 when unknown.
func (n *pairNode) callsOn(t testing.TB) int {
	st, err := n.status(t)
	if err != nil {
		return -1
	}
	for _, p := range st.Probes {
		if p.Name == "calls" && p.Last != nil {
			if v, ok := p.Last.Values["calls"]; ok {
				return int(v)
			}
		}
	}
	return -1
}

// TestPairSwitchoverDrainsCalls: a SIPp client places 10 calls of 4 s each
// through the VIP; a switchover asked meanwhile on the primary waits for
// them to end (its esl probe counts them on the test PBX's event socket
// double), then moves the service; no call fails and every BYE is
// answered. Asked again with a drain timeout shorter than the calls, it
// moves with calls still up, which end on the old primary (their BYE goes
// to its own address, the answer's Contact).
func TestPairSwitchoverDrainsCalls(t *testing.T) {
	f := startPairWith(t, pairOptions{calls: true})
	f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
	prim := f.primary()
	stby := f.other(prim)
	f.wait(20*time.Second, "the standby healthy", func() bool {
		s, err := stby.status(t)
		return err == nil && s.Role == "standby" && s.Health == "healthy"
	})

	load := startCalls(t, f, 10, 10, 4*time.Second)
	f.wait(20*time.Second, "the primary's esl probe counting 10 calls", func() bool { return prim.callsOn(t) == 10 })
	began := time.Now()
	out, err := exec.Command(f.pbxha, "switchover", "--socket", prim.socket, "--drain-timeout", "60s", "--timeout", "20s").CombinedOutput()
	took := time.Since(began)
	t.Logf("pbxha switchover (%s):\n%s", took.Round(time.Millisecond), out)
	if err != nil || !strings.Contains(string(out), "10 active call(s) drained") || !strings.Contains(string(out), ": done in") {
		f.dump()
		t.Fatalf("pbxha switchover: %v; want done after 10 active call(s) drained", err)
	}
	if r := load.wait(t); r.Attempts != 10 || r.Failed() != 0 || r.Lost() != 0 {
		t.Errorf("calls: got %s; want 10 attempts, none failed or lost", r)
	}
	if took < time.Second {
		t.Errorf("switchover took %s, want it to wait for the calls (4 s each)", took)
	}
	f.waitOneHolder(20*time.Second, "the former standby serving the VIP", f.settled(stby))

	// Drain shorter than the calls: the move happens with calls up on the
	// old primary; they still end well there.
	f.wait(20*time.Second, "the new standby healthy", func() bool {
		s, err := prim.status(t)
		return err == nil && s.Role == "standby" && s.Health == "healthy"
	})
	load = startCalls(t, f, 10, 10, 4*time.Second)
	f.wait(20*time.Second, "the new primary's esl probe counting 10 calls", func() bool { return stby.callsOn(t) == 10 })
	out, err = exec.Command(f.pbxha, "switchover", "--socket", stby.socket, "--drain-timeout", "300ms", "--timeout", "20s").CombinedOutput()
	t.Logf("pbxha switchover:\n%s", out)
	if err != nil || !strings.Contains(string(out), "drain timeout 300ms: 10 call(s) still active") {
		f.dump()
		t.Fatalf("pbxha switchover: %v; want done after a drain timeout with 10 calls", err)
	}
	if r := load.wait(t); r.Attempts != 10 || r.Failed() != 0 || r.Lost() != 0 {
		t.Errorf("calls after a drain timeout: got %s; want 10 attempts, none failed or lost", r)
	}
}

// callScenario is one fault of BenchmarkPairCalls: cause applies it to the
// primary (at a moment when calls are up), undo repairs it once the load
// has ended.
type callScenario struct {
	name  string
	cause func(b *testing.B, f *pairFixture, prim *pairNode)
	undo  func(b *testing.B, f *pairFixture, prim *pairNode)
}

// BenchmarkPairCalls measures outages in calls: per scenario and trial, a
// SIPp client in the client's namespace places calls to the VIP (20 calls/s,
// each held 2 s, for 8 s), the fault hits the primary 3 s in, and SIPp
// counts the call attempts that failed (no 200: timeout, 5xx, no final
// answer within 4 s) and the established calls lost (BYE not answered 200
// within 4 s: the dialog gone). An OPTIONS pinger measures the SIP outage
// of the same trial (pair_bench_test.go); the budget is the calls placed
// while it lasted (outage × rate, rounded up), the most a fault's failed
// attempts should reach. It reports the median, min and max of each over
// b.N trials:
//
//	go test -run '^$' -bench BenchmarkPairCalls -benchtime 5x -timeout 60m ./test   # as root
//
// The switchover scenario runs `pbxha switchover --drain-timeout 5s` on the
// primary; as calls keep coming through the VIP, the drain runs out its 5 s
// and the calls up then end on the old primary, addressed by their Contact.
func BenchmarkPairCalls(b *testing.B) {
	const (
		rate  = 20
		hold  = 2 * time.Second
		span  = 8 * time.Second // of calls placed
		fault = 3 * time.Second // into the load
	)
	f := startPairWith(b, pairOptions{calls: true})
	f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
	p := newSIPPinger(b, f)
	client := f.client.IP.String()
	disturbed := time.Now()
	steady := func() bool {
		if time.Since(disturbed) < 3*time.Second || !f.settled(nil)() {
			return false
		}
		for _, n := range f.nodes {
			if s, err := n.status(b); err != nil || s.Health != "healthy" || !s.Pair.Peer.Alive || n.callsOn(b) != 0 {
				return false
			}
		}
		return true
	}
	scenarios := []callScenario{
		{name: "switchover_drain", cause: func(b *testing.B, f *pairFixture, prim *pairNode) {
			go exec.Command(f.pbxha, "switchover", "--socket", prim.socket, "--drain-timeout", "5s").Run()
		}},
		{name: "pbx_killed", cause: func(b *testing.B, f *pairFixture, prim *pairNode) { prim.signalPBX(b, syscall.SIGKILL) },
			undo: func(b *testing.B, f *pairFixture, prim *pairNode) { restartPBX(b, prim) }},
		{name: "pbx_hung", cause: func(b *testing.B, f *pairFixture, prim *pairNode) { prim.signalPBX(b, syscall.SIGSTOP) },
			undo: func(b *testing.B, f *pairFixture, prim *pairNode) { prim.signalPBX(b, syscall.SIGCONT) }},
		{name: "node_lost", cause: func(b *testing.B, f *pairFixture, prim *pairNode) {
			if err := prim.host.LinkDown(); err != nil {
				b.Fatal(err)
			}
		}, undo: func(b *testing.B, f *pairFixture, prim *pairNode) {
			if err := prim.host.LinkUp(); err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			var failed, lost, outageMS, budgets []float64
			for range b.N {
				f.wait(60*time.Second, "a healthy pair without calls, 3s after the last trial", steady)
				prim := f.primary()
				load := startCalls(b, f, rate, rate*int(span/time.Second), hold)
				time.Sleep(fault) // pacing: calls are up when the fault hits
				// The switchover's drain takes 5 s before the move: wait
				// that long for a gap before calling it none.
				out := outageWithin(b, p, client, func() { sc.cause(b, f, prim) }, 30*time.Second, 8*time.Second)
				r := load.wait(b)
				if sc.undo != nil {
					sc.undo(b, f, prim)
				}
				disturbed = time.Now()
				// The goal for a fault: no more failed attempts than the
				// calls placed while SIP was out (outage × rate, rounded up).
				budget := math.Ceil(out.Seconds() * rate)
				b.Logf("%s: %s; SIP outage %s, budget %.0f failed attempts", sc.name, r, out.Round(time.Millisecond), budget)
				failed, lost, outageMS = append(failed, float64(r.Failed())), append(lost, float64(r.Lost())), append(outageMS, ms(out))
				budgets = append(budgets, budget)
			}
			reportSpread(b, "failed", failed)
			reportSpread(b, "lost", lost)
			reportSpread(b, "outage-ms", outageMS)
			reportSpread(b, "budget", budgets)
		})
	}
}

// reportSpread reports the median, min and max of v as unit-median,
// unit-min and unit-max.
func reportSpread(b *testing.B, unit string, v []float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	b.ReportMetric(median(v), unit+"-median")
	b.ReportMetric(lo, unit+"-min")
	b.ReportMetric(hi, unit+"-max")
}
