package act

import (
	"net"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// TestTieBreakerWindow: ok only while a target answered within dead_after/2
// — not before the first answer, and no longer once the target stopped
// answering for that long (the answer that counts must come after the
// peer went silent).
func TestTieBreakerWindow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testenv.ServeAccepts(t, ln)
	tb := NewTieBreaker([]string{"127.0.0.1:1", ln.Addr().String()}, 500*time.Millisecond, nil) // the first target refuses
	if tb.every != 100*time.Millisecond || tb.window != 250*time.Millisecond {
		t.Fatalf("got every %s window %s, want dead_after/5 and dead_after/2", tb.every, tb.window)
	}
	if tb.OK() {
		t.Fatal("ok before any round, want not ok")
	}
	ctx := t.Context()
	go tb.Run(ctx)
	testenv.WaitFor(t, 5*time.Second, "a target answers", tb.OK)
	ln.Close()
	start := time.Now()
	testenv.WaitFor(t, 5*time.Second, "no target answers", func() bool { return !tb.OK() })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("still ok %s after the last target closed, want about the window %s", d, tb.window)
	}
}
