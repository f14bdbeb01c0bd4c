package alert

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/testenv"
)

// run starts d.Run and returns a stop function that cancels it and waits.
func run(t *testing.T, d *Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("Run did not return within 30s of cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func newDispatcher(t *testing.T, cfg Config) *Dispatcher {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	d, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

var pub = event.Publisher{Node: "node-a", Cluster: "prod"}

func ev(kind string, sev event.Severity, summary string) event.Event {
	return pub.Publish(event.Event{Kind: kind, Severity: sev, Summary: summary})
}

// outboxFiles lists the queued files of one endpoint.
func outboxFiles(t *testing.T, dir, endpoint string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, endpoint, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDeliverSignedWithHeaders(t *testing.T) {
	rcv := newReceiver(t, "s3cret", nil)
	dir := t.TempDir()
	d := newDispatcher(t, Config{Dir: dir, Endpoints: []Endpoint{{
		Name: "ops", URL: rcv.srv.URL + "/hook", Secret: "s3cret", Headers: map[string]string{"Authorization": "Bearer tok"},
	}}})
	run(t, d)
	e := ev(event.RoleChange, event.Warning, "node-a is now primary")
	d.Publish(e)
	testenv.WaitFor(t, 10*time.Second, "one delivery", func() bool { return len(rcv.accepted()) == 1 })
	q := rcv.requests()[0]
	if q.sigErr != nil {
		t.Errorf("signature: got %v, want valid", q.sigErr)
	}
	for h, want := range map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/json", HeaderEventID: e.ID} {
		if got := q.header.Get(h); got != want {
			t.Errorf("header %s: got %q, want %q", h, got, want)
		}
	}
	if q.id != e.ID {
		t.Errorf("id: got %q, want %q", q.id, e.ID)
	}
	testenv.WaitFor(t, 10*time.Second, "status delivered=1", func() bool { return d.Status()[0].Delivered == 1 })
	st := d.Status()[0]
	if st.Queued != 0 || st.LastSuccess.IsZero() || st.LastError != "" {
		t.Errorf("status: got %+v, want queued 0, a last success, no error", st)
	}
	if files := outboxFiles(t, dir, "ops"); len(files) != 0 {
		t.Errorf("outbox after 2xx: got %v, want empty", files)
	}
}

func TestRetryKeepsID(t *testing.T) {
	tests := []struct {
		name          string
		firstCode     int
		wantRequests  int // for the first event
		wantDelivered uint64
		wantRejected  uint64
	}{
		{name: "500 then 200", firstCode: 500, wantRequests: 2, wantDelivered: 2},
		{name: "503 then 200", firstCode: 503, wantRequests: 2, wantDelivered: 2},
		{name: "429 then 200", firstCode: 429, wantRequests: 2, wantDelivered: 2},
		{name: "408 then 200", firstCode: 408, wantRequests: 2, wantDelivered: 2},
		{name: "404 is retried (receiver set-up)", firstCode: 404, wantRequests: 2, wantDelivered: 2},
		{name: "401 is retried (receiver set-up)", firstCode: 401, wantRequests: 2, wantDelivered: 2},
		{name: "400 drops the payload", firstCode: 400, wantRequests: 1, wantDelivered: 1, wantRejected: 1},
		{name: "422 drops the payload", firstCode: 422, wantRequests: 1, wantDelivered: 1, wantRejected: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, "k", func(n int, _ string) int {
				if n == 0 {
					return tt.firstCode
				}
				return 200
			})
			d := newDispatcher(t, Config{BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
				Endpoints: []Endpoint{{Name: "ops", URL: rcv.srv.URL, Secret: "k"}}})
			run(t, d)
			first := ev(event.Failover, event.Critical, "failover")
			second := ev(event.RoleChange, event.Info, "role")
			d.Publish(first)
			d.Publish(second)
			testenv.WaitFor(t, 10*time.Second, "the second event delivered", func() bool { return slices.Contains(rcv.accepted(), second.ID) })
			var firstReqs, firstOK int
			for _, q := range rcv.requests() {
				if q.sigErr != nil {
					t.Errorf("signature: got %v, want valid on every attempt", q.sigErr)
				}
				if q.id == first.ID {
					firstReqs++
					if q.code == 200 {
						firstOK++
					}
				}
			}
			if firstReqs != tt.wantRequests {
				t.Errorf("requests for the first event: got %d, want %d", firstReqs, tt.wantRequests)
			}
			if wantOK := tt.wantRequests - 1; firstOK != wantOK {
				t.Errorf("2xx for the first event: got %d, want %d", firstOK, wantOK)
			}
			if got := rcv.accepted(); got[len(got)-1] != second.ID || (tt.wantRejected == 0 && got[0] != first.ID) {
				t.Errorf("order: got %v, want first %s then second %s", got, first.ID, second.ID)
			}
			testenv.WaitFor(t, 10*time.Second, "status settles", func() bool { return d.Status()[0].Queued == 0 })
			st := d.Status()[0]
			if st.Delivered != tt.wantDelivered || st.Rejected != tt.wantRejected || st.Dropped != tt.wantRejected || st.Failures != 1 {
				t.Errorf("status: got delivered %d rejected %d dropped %d failures %d, want %d, %d, %d, 1",
					st.Delivered, st.Rejected, st.Dropped, st.Failures, tt.wantDelivered, tt.wantRejected, tt.wantRejected)
			}
			if !strings.Contains(st.LastError, fmt.Sprint(tt.firstCode)) || st.LastErrorAt.IsZero() {
				t.Errorf("last error: got %q at %s, want the %d answer", st.LastError, st.LastErrorAt, tt.firstCode)
			}
		})
	}
}

func TestEndpointDownThenUp(t *testing.T) {
	addr := testenv.FreeAddr(t)
	dir := t.TempDir()
	d := newDispatcher(t, Config{Dir: dir, BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Endpoints: []Endpoint{{Name: "down", URL: "http://" + addr + "/hook"}}})
	run(t, d)
	var want []string
	for i := range 5 {
		e := ev(event.PeerPathLost, event.Warning, fmt.Sprintf("path %d", i))
		want = append(want, e.ID)
		d.Publish(e)
	}
	testenv.WaitFor(t, 10*time.Second, "three failed attempts", func() bool { return d.Status()[0].Failures >= 3 })
	if st := d.Status()[0]; st.Queued != 5 || !strings.Contains(st.LastError, "connection refused") || strings.Contains(st.LastError, "/hook") {
		t.Errorf("while down: got queued %d, last error %q, want 5 and a refused error without the URL path", st.Queued, st.LastError)
	}
	if files := outboxFiles(t, dir, "down"); len(files) != 5 {
		t.Errorf("outbox while down: got %d files, want 5", len(files))
	}
	rcv := newReceiverOn(t, addr, nil)
	testenv.WaitFor(t, 20*time.Second, "all five delivered", func() bool { return len(rcv.accepted()) == 5 })
	if got := rcv.accepted(); !slices.Equal(got, want) {
		t.Errorf("order: got %v, want %v", got, want)
	}
	testenv.WaitFor(t, 10*time.Second, "outbox empty", func() bool { return len(outboxFiles(t, dir, "down")) == 0 && d.Status()[0].Queued == 0 })
}

func TestRestartDeliversOutbox(t *testing.T) {
	addr := testenv.FreeAddr(t)
	dir := t.TempDir()
	cfg := Config{Dir: dir, BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Endpoints: []Endpoint{{Name: "ops", URL: "http://" + addr + "/"}}}
	d1 := newDispatcher(t, cfg)
	stop := run(t, d1)
	var want []string
	for i := range 3 {
		e := ev(event.Failover, event.Critical, fmt.Sprintf("failover %d", i))
		want = append(want, e.ID)
		d1.Publish(e)
	}
	testenv.WaitFor(t, 10*time.Second, "a failed attempt", func() bool { return d1.Status()[0].Failures >= 1 })
	// Published after the last wake-up and still in the hand-off at stop:
	// Run writes it to the outbox before returning.
	late := ev(event.SplitBrain, event.Critical, "late")
	d1.Publish(late)
	want = append(want, late.ID)
	stop()
	files := outboxFiles(t, dir, "ops")
	if len(files) != 4 {
		t.Fatalf("outbox after stop: got %d files, want 4", len(files))
	}
	// Damage the outbox the way a crash or an operator might.
	good, _ := os.ReadFile(files[0])
	mustWrite(t, filepath.Join(dir, "ops", "0000000000000001-0000000000000001.json"), good[:len(good)/2]) // torn
	mustWrite(t, filepath.Join(dir, "ops", "0000000000000002-0000000000000001.json"), []byte("garbage\x00\xff"))
	mustWrite(t, filepath.Join(dir, "ops", "0000000000000003-0000000000000001.json.tmp"), good)

	rcv := newReceiverOn(t, addr, nil)
	d2 := newDispatcher(t, cfg)
	if c := d2.Counters(); c.Corrupt != 2 {
		t.Errorf("corrupt files: got %d, want 2", c.Corrupt)
	}
	if st := d2.Status()[0]; st.Queued != 4 {
		t.Errorf("queued after restart: got %d, want 4", st.Queued)
	}
	run(t, d2)
	testenv.WaitFor(t, 20*time.Second, "four deliveries", func() bool { return len(rcv.accepted()) == 4 })
	if got := rcv.accepted(); !slices.Equal(got, want) {
		t.Errorf("delivered: got %v, want %v (same ids, same order)", got, want)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "ops", corruptDir, "*"))
	if len(aside) != 2 {
		t.Errorf("set aside: got %v, want the 2 damaged files", aside)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "ops", "*.tmp")); len(tmp) != 0 {
		t.Errorf("temporary files: got %v, want removed", tmp)
	}
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestSlowEndpointDelaysNobody(t *testing.T) {
	slow := newReceiver(t, "", nil)
	slow.hold = make(chan struct{}) // every answer takes 5s
	fast := newReceiver(t, "", nil)
	d := newDispatcher(t, Config{Endpoints: []Endpoint{
		{Name: "slow", URL: slow.srv.URL, Timeout: 10 * time.Second},
		{Name: "fast", URL: fast.srv.URL},
	}})
	run(t, d)
	const n = 1000
	events := make([]event.Event, n)
	for i := range events {
		events[i] = ev(event.ProbeState, event.Warning, fmt.Sprintf("change %d", i))
	}
	start := time.Now()
	for _, e := range events {
		d.Publish(e)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Publish of %d events: took %s, want well under 1s (it must not block)", n, took)
	}
	testenv.WaitFor(t, 60*time.Second, "all events at the fast endpoint", func() bool { return len(fast.accepted()) == n })
	if got := len(slow.requests()); got > 1 {
		t.Errorf("slow endpoint: got %d answers, want at most 1 while the fast one took %d", got, n)
	}
	if got := fast.accepted(); got[0] != events[0].ID || got[n-1] != events[n-1].ID {
		t.Errorf("fast endpoint order: got first %s last %s, want %s and %s", got[0], got[n-1], events[0].ID, events[n-1].ID)
	}
	close(slow.hold)
}

func TestMaxAgeDrops(t *testing.T) {
	rcv := newReceiver(t, "", func(int, string) int { return http.StatusServiceUnavailable })
	dir := t.TempDir()
	d := newDispatcher(t, Config{Dir: dir, MaxAge: 300 * time.Millisecond, BackoffInitial: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		Endpoints: []Endpoint{{Name: "ops", URL: rcv.srv.URL}}})
	run(t, d)
	e := ev(event.Failover, event.Critical, "failover")
	d.Publish(e)
	testenv.WaitFor(t, 10*time.Second, "the event expired", func() bool { return d.Status()[0].Expired == 1 })
	st := d.Status()[0]
	if st.Dropped != 1 || st.Queued != 0 || st.Delivered != 0 {
		t.Errorf("status: got %+v, want dropped 1, queued 0, delivered 0", st)
	}
	reqs := rcv.requests()
	if len(reqs) < 2 {
		t.Errorf("attempts: got %d, want several before max_age", len(reqs))
	}
	for _, q := range reqs {
		if q.id != e.ID {
			t.Errorf("attempt id: got %s, want %s on every attempt", q.id, e.ID)
		}
	}
	if files := outboxFiles(t, dir, "ops"); len(files) != 0 {
		t.Errorf("outbox after expiry: got %v, want empty", files)
	}
}

func TestOverflowDropsLowSeverityFirst(t *testing.T) {
	rcv := newReceiver(t, "", nil)
	dir := t.TempDir()
	d := newDispatcher(t, Config{Dir: dir, MaxQueued: 3, Endpoints: []Endpoint{{Name: "ops", URL: rcv.srv.URL}}})
	c1 := ev(event.Failover, event.Critical, "c1")
	i1 := ev(event.ConfigReload, event.Info, "i1")
	w1 := ev(event.PeerPathLost, event.Warning, "w1")
	i2 := ev(event.ConfigReload, event.Info, "i2")
	c2 := ev(event.SplitBrain, event.Critical, "c2")
	// Published before Run: the intake stores them as one batch.
	for _, e := range []event.Event{c1, i1, w1, i2, c2} {
		d.Publish(e)
	}
	run(t, d)
	testenv.WaitFor(t, 10*time.Second, "three deliveries", func() bool { return len(rcv.accepted()) == 3 })
	if got, want := rcv.accepted(), []string{c1.ID, w1.ID, c2.ID}; !slices.Equal(got, want) {
		t.Errorf("delivered: got %v, want %v (info events dropped, oldest first)", got, want)
	}
	testenv.WaitFor(t, 10*time.Second, "status settles", func() bool { return d.Status()[0].Delivered == 3 })
	if st := d.Status()[0]; st.Overflowed != 2 || st.Dropped != 2 {
		t.Errorf("status: got overflowed %d dropped %d, want 2, 2", st.Overflowed, st.Dropped)
	}
	if c := d.Counters(); c.HandoffDropped != 0 {
		t.Errorf("hand-off drops: got %d, want 0", c.HandoffDropped)
	}
}

func TestVictim(t *testing.T) {
	tests := []struct {
		name string
		sev  []event.Severity
		skip []bool
		want int
	}{
		{name: "oldest of the lowest", sev: []event.Severity{event.Critical, event.Info, event.Warning, event.Info}, want: 1},
		{name: "all equal: oldest", sev: []event.Severity{event.Warning, event.Warning}, want: 0},
		{name: "in-flight skipped", sev: []event.Severity{event.Info, event.Critical, event.Info}, skip: []bool{true, false, false}, want: 2},
		{name: "everything skipped", sev: []event.Severity{event.Info}, skip: []bool{true}, want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := victim(len(tt.sev), func(i int) event.Severity { return tt.sev[i] },
				func(i int) bool { return tt.skip != nil && tt.skip[i] })
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEveryFormatToItsReceiver(t *testing.T) {
	rcv := newReceiver(t, "", nil)
	d := newDispatcher(t, Config{ExternalURL: "http://node-a.example.net:9108", Endpoints: []Endpoint{
		{Name: "j", URL: rcv.srv.URL + "/json", Format: FormatJSON},
		{Name: "s", URL: rcv.srv.URL + "/slack", Format: FormatSlack},
		{Name: "am", URL: rcv.srv.URL + "/am", Format: FormatAlertmanager},
		{Name: "filtered", URL: rcv.srv.URL + "/filtered", Kinds: []string{event.SplitBrain}},
	}})
	run(t, d)
	e := failoverEvent()
	d.Publish(e)
	testenv.WaitFor(t, 10*time.Second, "three deliveries", func() bool { return len(rcv.requests()) == 3 })
	for _, q := range rcv.requests() {
		if got := q.header.Get(HeaderEventID); got != e.ID {
			t.Errorf("event id header: got %q, want %q", got, e.ID)
		}
		switch {
		case strings.Contains(string(q.body), `"schema_version"`):
			var v jsonV1
			strictDecode(t, q.body, &v)
		case strings.Contains(string(q.body), `"attachments"`):
			var v slackMessage
			strictDecode(t, q.body, &v)
		case strings.Contains(string(q.body), `"groupKey"`):
			var v amWebhookV4
			strictDecode(t, q.body, &v)
		default:
			t.Errorf("unrecognised body %s", q.body)
		}
	}
	if st := d.Status()[3]; st.Queued != 0 || st.Delivered != 0 {
		t.Errorf("filtered endpoint: got %+v, want nothing queued or sent", st)
	}
}

func TestFlapDampingEndToEnd(t *testing.T) {
	rcv := newReceiver(t, "", nil)
	d := newDispatcher(t, Config{FlapWindow: 300 * time.Millisecond, FlapThreshold: 2,
		Endpoints: []Endpoint{{Name: "ops", URL: rcv.srv.URL}}})
	run(t, d)
	for i := range 8 {
		state, sev := flip(i)
		d.Publish(pub.Publish(probeEvent("sip", state, sev)))
	}
	testenv.WaitFor(t, 10*time.Second, "two changes and one summary", func() bool { return len(rcv.accepted()) == 3 })
	last := rcv.requests()[2]
	var got jsonV1
	strictDecode(t, last.body, &got)
	if got.Details["flaps"] != float64(6) || got.Details["last_state"] != "ok" || !got.Resolved {
		t.Errorf("summary: got details %v resolved %v, want flaps 6, last_state ok, resolved", got.Details, got.Resolved)
	}
	if c := d.Counters(); c.Suppressed != 6 {
		t.Errorf("suppressed: got %d, want 6", c.Suppressed)
	}
}

func TestSend(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		wantErr  string
		wantBody string
	}{
		{name: "accepted", code: 200, wantBody: "OK"},
		{name: "accepted 204", code: 204},
		{name: "server error", code: 500, wantErr: "answered 500 Internal Server Error: Internal Server Error", wantBody: "Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, "k", func(int, string) int { return tt.code })
			e := pub.Publish(event.Event{Kind: event.Test, Summary: "test"})
			code, body, err := Send(context.Background(), Endpoint{Name: "ops", URL: rcv.srv.URL + "/services/T0/B0/token", Secret: "k"}, e, "")
			if code != tt.code || body != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.wantBody)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got error %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "token") {
				t.Errorf("error %q: want no URL path (it may hold a secret)", err)
			}
			if q := rcv.requests(); len(q) != 1 || q[0].sigErr != nil || q[0].id != e.ID {
				t.Errorf("receiver: got %+v, want one signed request with id %s", q, e.ID)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		rcv := newReceiver(t, "", nil)
		rcv.hold = make(chan struct{})
		defer close(rcv.hold)
		_, _, err := Send(context.Background(), Endpoint{Name: "slow", URL: rcv.srv.URL, Timeout: 200 * time.Millisecond}, ev(event.Test, event.Info, "t"), "")
		if err == nil || !strings.Contains(err.Error(), "alert: post slow (127.0.0.1:") || !strings.Contains(err.Error(), "no answer within 200ms") {
			t.Errorf("got %v, want a timeout error naming the endpoint", err)
		}
	})
}
