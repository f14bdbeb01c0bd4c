package failover_test

import (
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
)

// breakDir puts a regular file where dir was, so that every write into it
// fails (as a read-only or full file system would make it fail, also for
// root); the returned func puts the directory back.
func breakDir(t *testing.T, dir string) (restore func()) {
	t.Helper()
	away := dir + ".away"
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(away, dir); err != nil {
			t.Fatal(err)
		}
	}
}

// stateDirEvents splits a node's state_dir_unwritable events into raised
// and resolved ones.
func stateDirEvents(tn *testNode) (raised, resolved []event.Event) {
	for _, e := range tn.events.of(event.StateDirUnwritable) {
		if e.Resolved {
			resolved = append(resolved, e)
		} else {
			raised = append(raised, e)
		}
	}
	return raised, resolved
}

// TestNodeStateDirBlocksTakeover: a standby whose state dir takes no write
// does not take over when its peer dies (the epoch rule), and says so:
// one critical state_dir_unwritable event for the whole episode (not one
// per decision), the error and a "not acting" reason in Status. Once the
// directory takes writes again it takes over, and the event is resolved.
func TestNodeStateDirBlocksTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		restore := breakDir(t, p.b.dir)
		p.a.cancel() // node-a dies: silent, as after a crash
		<-p.a.done

		waitFor(t, 5*time.Second, "node-b blocked on its epoch", func() bool {
			return strings.HasPrefix(p.b.node.Status().Reason, "not acting, epoch 2 cannot be persisted")
		})
		hold(t, 3*time.Second, "node-b stays standby without the resources", func() bool {
			return p.b.role() == failover.RoleStandby && !p.b.holds()
		})
		raised, resolved := stateDirEvents(p.b)
		if len(raised) != 1 || len(resolved) != 0 {
			t.Fatalf("got %d raised and %d resolved state_dir_unwritable events after 3s of blocked decisions, want 1 and 0", len(raised), len(resolved))
		}
		if e := raised[0]; e.Severity != event.Critical || e.Details["path"] != p.b.dir || e.Details["epoch"] != uint64(2) ||
			!strings.Contains(e.Summary, "taking over at epoch 2 is blocked") {
			t.Errorf("got event %+v, want a critical one naming the path and epoch 2", e)
		}
		st := p.b.node.Status()
		if st.StateDirError == "" || st.StateDirSince.IsZero() || st.Epoch != 1 {
			t.Errorf("got status state dir error %q since %s at epoch %d, want the error, its start, epoch 1", st.StateDirError, st.StateDirSince, st.Epoch)
		}

		restore()
		waitFor(t, 5*time.Second, "node-b primary at epoch 2", func() bool {
			return p.b.role() == failover.RolePrimary && p.b.node.Status().Epoch == 2
		})
		if got, err := failover.LoadEpoch(p.b.dir); err != nil || got != 2 {
			t.Errorf("got persisted epoch %d (%v), want 2", got, err)
		}
		raised, resolved = stateDirEvents(p.b)
		if len(raised) != 1 || len(resolved) != 1 || resolved[0].Severity != event.Info {
			t.Errorf("got %d raised and %d resolved events, want 1 and 1 (info)", len(raised), len(resolved))
		}
		if st := p.b.node.Status(); st.StateDirError != "" {
			t.Errorf("got state dir error %q after a good write, want none", st.StateDirError)
		}
	})
}

// TestNodeStateDirCheckedInTheBackground: a node notices an unwritable
// state dir by itself, before any takeover needs it, and notices when it
// takes writes again; its role is not touched.
func TestNodeStateDirCheckedInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		restore := breakDir(t, p.b.dir)
		waitFor(t, 40*time.Second, "node-b raises state_dir_unwritable", func() bool {
			raised, _ := stateDirEvents(p.b)
			return len(raised) == 1
		})
		raised, _ := stateDirEvents(p.b)
		if e := raised[0]; e.Severity != event.Critical || e.Details["epoch"] != nil || e.Details["path"] != p.b.dir {
			t.Errorf("got event %+v, want a critical one naming the path, without an epoch", e)
		}
		if st := p.b.node.Status(); st.StateDirError == "" || st.Role != failover.RoleStandby {
			t.Errorf("got state dir error %q role %s, want the error shown, still standby", st.StateDirError, st.Role)
		}
		hold(t, 20*time.Second, "one event per episode", func() bool {
			raised, _ := stateDirEvents(p.b)
			return len(raised) == 1
		})
		restore()
		waitFor(t, 10*time.Second, "resolved", func() bool {
			_, resolved := stateDirEvents(p.b)
			return len(resolved) == 1
		})
		if st := p.b.node.Status(); st.StateDirError != "" || p.a.role() != failover.RolePrimary {
			t.Errorf("got state dir error %q, node-a %s; want none, node-a still primary", st.StateDirError, p.a.role())
		}
	})
}
