package alert

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/event"
)

// roundTripFunc answers requests in memory, so the retry schedule can run
// under synctest's fake clock (real sockets would stop the bubble's clock).
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRetryScheduleUntilMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDispatcher(t, Config{MaxAge: time.Hour, Endpoints: []Endpoint{{Name: "ops", URL: "http://receiver.invalid/"}}})
		d.rnd = func(n int64) int64 { return n - 1 } // no jitter: the top of each range
		var mu sync.Mutex
		var at []time.Duration
		start := time.Now()
		d.eps[0].client.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			at = append(at, time.Since(start))
			mu.Unlock()
			return &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Body: io.NopCloser(strings.NewReader("busy")), Request: r}, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		d.Publish(pub.Publish(event.Event{Kind: event.Failover, Severity: event.Critical, Summary: "f"}))
		time.Sleep(2 * time.Hour) // fake time: the whole retry life of the event
		synctest.Wait()
		cancel()
		<-done

		// 1s, 2s, 4s ... 256s, then every 300s, until one hour after queueing.
		var want []time.Duration
		next, step := time.Duration(0), time.Second
		for next < time.Hour {
			want = append(want, next)
			next += step
			step = min(step*2, 5*time.Minute)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(at) != len(want) {
			t.Fatalf("attempts: got %d at %v, want %d at %v", len(at), at, len(want), want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Errorf("attempt %d: got %s, want %s", i, at[i], want[i])
			}
		}
		st := d.Status()[0]
		if st.Expired != 1 || st.Queued != 0 || st.Failures != uint64(len(want)) {
			t.Errorf("status: got expired %d queued %d failures %d, want 1, 0, %d", st.Expired, st.Queued, st.Failures, len(want))
		}
	})
}
