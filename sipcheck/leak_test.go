package sipcheck

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestNoGrowthOverManyProbes runs 10,000 checks (2,000 on fresh
// connections) and requires goroutines, file descriptors and heap to stay
// where they were after a warm-up.
func TestNoGrowthOverManyProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 probes; skipped with -short")
	}
	// The test PBX runs as its own process, so that only the prober's
	// goroutines, sockets and memory live in this one.
	addr := testenv.StartTestPBX(t, testenv.BuildTestPBX(t)).UDP
	cases := []struct {
		name  string
		cfg   Config
		count int
	}{
		{"udp", Config{Target: "sip:" + addr + ";transport=udp"}, 10000},
		{"tcp pooled", Config{Target: "sip:" + addr + ";transport=tcp"}, 10000},
		{"tcp fresh", Config{Target: "sip:" + addr + ";transport=tcp", FreshConnection: true}, 2000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProber(t, tc.cfg)
			run := func(n int) {
				for i := range n {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					r := p.Check(ctx)
					cancel()
					if r.Status != probe.OK {
						t.Fatalf("check %d: got %s (%v), want ok", i, r.Status, r.Err)
					}
				}
			}
			run(100) // warm-up: pooled connection, buffers
			g0, fd0, h0 := runtime.NumGoroutine(), testenv.OpenFDs(t, os.Getpid()), heapInUse()
			run(tc.count)
			// Let closed connections' goroutines end; the checks below
			// report whatever did not settle.
			_ = testenv.Poll(10*time.Second, func() (bool, string) {
				return runtime.NumGoroutine() <= g0+1 && testenv.OpenFDs(t, os.Getpid()) <= fd0+1, ""
			})
			g1, fd1, h1 := runtime.NumGoroutine(), testenv.OpenFDs(t, os.Getpid()), heapInUse()
			t.Logf("goroutines %d -> %d, fds %d -> %d, heap in use %d KiB -> %d KiB", g0, g1, fd0, fd1, h0>>10, h1>>10)
			if g1 > g0+1 {
				t.Errorf("got %d goroutines after %d checks, want at most %d", g1, tc.count, g0+1)
			}
			if fd1 > fd0+1 {
				t.Errorf("got %d open fds after %d checks, want at most %d", fd1, tc.count, fd0+1)
			}
			if h1 > h0+4<<20 {
				t.Errorf("got heap in use %d KiB after %d checks, want under %d KiB", h1>>10, tc.count, (h0+4<<20)>>10)
			}
		})
	}
}
