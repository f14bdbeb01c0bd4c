package alert

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/testenv"
)

// breakOutbox puts a regular file where an endpoint's outbox folder was, so
// that every outbox write fails as on a full or read-only disk; restore
// puts the folder back.
func breakOutbox(t *testing.T, dir string) (restore func()) {
	t.Helper()
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, dir, []byte("not a folder\n"))
	return func() {
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMemoryOnlyEvents: events the outbox cannot write are counted apart
// from the durable ones, delivered while the process lives, and written to
// the outbox once the disk takes writes again, so that a restart after that
// loses none of them.
func TestMemoryOnlyEvents(t *testing.T) {
	t.Run("delivered while the process lives", func(t *testing.T) {
		addr := testenv.FreeAddr(t)
		dir := t.TempDir()
		d := newDispatcher(t, Config{Dir: dir, BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			Endpoints: []Endpoint{{Name: "ops", URL: "http://" + addr + "/"}}})
		breakOutbox(t, filepath.Join(dir, "ops"))
		run(t, d)
		var want []string
		for i := range 3 {
			e := ev(event.StateDirUnwritable, event.Critical, fmt.Sprintf("disk full %d", i))
			want = append(want, e.ID)
			d.Publish(e)
		}
		testenv.WaitFor(t, 10*time.Second, "three events in memory only", func() bool {
			st := d.Status()[0]
			return st.Queued == 3 && st.MemoryOnly == 3
		})
		rcv := newReceiverOn(t, addr, nil)
		testenv.WaitFor(t, 20*time.Second, "all three delivered", func() bool { return len(rcv.accepted()) == 3 })
		if got := rcv.accepted(); !slices.Equal(got, want) {
			t.Errorf("order: got %v, want %v", got, want)
		}
		testenv.WaitFor(t, 10*time.Second, "none left", func() bool {
			st := d.Status()[0]
			return st.Queued == 0 && st.MemoryOnly == 0
		})
	})
	t.Run("written once the disk recovers, and delivered after a restart", func(t *testing.T) {
		addr := testenv.FreeAddr(t)
		dir := t.TempDir()
		cfg := Config{Dir: dir, BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			Endpoints: []Endpoint{{Name: "ops", URL: "http://" + addr + "/"}}}
		d1 := newDispatcher(t, cfg)
		restore := breakOutbox(t, filepath.Join(dir, "ops"))
		stop := run(t, d1)
		var want []string
		for i := range 2 {
			e := ev(event.StateDirUnwritable, event.Critical, fmt.Sprintf("disk full %d", i))
			want = append(want, e.ID)
			d1.Publish(e)
		}
		testenv.WaitFor(t, 10*time.Second, "two events in memory only", func() bool { return d1.Status()[0].MemoryOnly == 2 })
		restore()
		e := ev(event.StateDirUnwritable, event.Info, "disk writable again")
		want = append(want, e.ID)
		d1.Publish(e)
		testenv.WaitFor(t, 10*time.Second, "all three in the outbox", func() bool {
			st := d1.Status()[0]
			return st.Queued == 3 && st.MemoryOnly == 0 && len(outboxFiles(t, dir, "ops")) == 3
		})
		stop()

		d2 := newDispatcher(t, cfg)
		if st := d2.Status()[0]; st.Queued != 3 || st.MemoryOnly != 0 {
			t.Fatalf("after the restart got queued %d memory-only %d, want 3 and 0", st.Queued, st.MemoryOnly)
		}
		rcv := newReceiverOn(t, addr, nil)
		run(t, d2)
		testenv.WaitFor(t, 20*time.Second, "all three delivered after the restart", func() bool { return len(rcv.accepted()) == 3 })
		if got := rcv.accepted(); !slices.Equal(got, want) {
			t.Errorf("order: got %v, want %v", got, want)
		}
	})
}
