package test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/supervisor"
	"golang.org/x/sys/unix"
)

// BenchmarkExecRestart measures, per SIGKILL of a supervised testpbx (exec
// mode, no back-off before the first restart), the time from the kill to
// the pbx_down event (detect-ms) and to the new process answering SIP
// OPTIONS (answer-ms, polled every 5 ms); both are reported as medians.
//
//	go test -run '^$' -bench BenchmarkExecRestart -benchtime 20x ./test
func BenchmarkExecRestart(b *testing.B) {
	bin := testenv.BuildTestPBX(b)
	addr := testenv.FreeAddr(b)

	downs := make(chan supervisor.Event, 16)
	starts := make(chan supervisor.Event, 16)
	s, err := supervisor.New(supervisor.Config{
		Mode:        supervisor.ModeExec,
		Command:     []string{bin, "-listen", addr, "-transport", "udp"},
		StateDir:    b.TempDir(),
		StopTimeout: 2 * time.Second,
		BackoffMax:  time.Second,
		MaxRestarts: 1 << 20, // every kill restarts
		Window:      time.Minute,
		StopOnExit:  true,
	}, nil, func(ev supervisor.Event) {
		switch ev.Kind {
		case supervisor.EventDown:
			downs <- ev
		case supervisor.EventStarted, supervisor.EventRestarted:
			starts <- ev
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	p, err := sipcheck.New(sipcheck.Config{Target: "sip:" + addr}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	answered := func(within time.Duration) bool {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			cctx, ccancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			ok := p.Check(cctx).Status == probe.OK
			ccancel()
			if ok {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}
	var cur supervisor.Event
	select {
	case cur = <-starts:
	case <-time.After(10 * time.Second):
		b.Fatal("testpbx did not start")
	}
	if !answered(10 * time.Second) {
		b.Fatal("testpbx does not answer OPTIONS")
	}
	var detect, answer []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		killed := time.Now()
		if err := unix.Kill(cur.PID, unix.SIGKILL); err != nil {
			b.Fatal(err)
		}
		select {
		case ev := <-downs:
			detect = append(detect, ms(ev.Time.Sub(killed)))
		case <-time.After(5 * time.Second):
			b.Fatal("no pbx_down within 5s")
		}
		select {
		case cur = <-starts:
		case <-time.After(5 * time.Second):
			b.Fatal("no restart within 5s")
		}
		if !answered(10 * time.Second) {
			b.Fatal("restarted testpbx does not answer OPTIONS within 10s")
		}
		answer = append(answer, ms(time.Since(killed)))
	}
	b.StopTimer()
	b.ReportMetric(median(detect), "detect-ms")
	b.ReportMetric(median(answer), "answer-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// reportMS reports the median, minimum and maximum of ds in
// milliseconds, as PREFIXmedian-ms, PREFIXmin-ms and PREFIXmax-ms.
func reportMS(b *testing.B, prefix string, ds []time.Duration) {
	v := make([]float64, len(ds))
	for i, d := range ds {
		v[i] = ms(d)
	}
	b.ReportMetric(median(v), prefix+"median-ms")
	b.ReportMetric(slices.Min(v), prefix+"min-ms")
	b.ReportMetric(slices.Max(v), prefix+"max-ms")
}
