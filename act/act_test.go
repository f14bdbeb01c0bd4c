package act_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/act/acttest"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/vip"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newAct returns actuators over w's fakes for node-b, whose peer node-a is
// at 198.18.0.1.
func newAct(w *acttest.World, rejoin bool) *act.Actuators {
	return act.New(act.Config{Node: "node-b", VIPAddr: "198.18.0.100/24", PeerHost: "198.18.0.1", Rejoin: rejoin, Logger: quiet()}, w.Resources())
}

var move = failover.Move{Epoch: 7, Reason: "node-a silent", Peer: "node-a", PeerWAL: 0x3000060}

// every makes each op of w take d of fake time.
func every(w *acttest.World, d time.Duration, ops ...string) {
	for _, op := range ops {
		w.Takes(op, d)
	}
}

var allOps = []string{acttest.DBPromote, acttest.DBDemote, acttest.DBStop, acttest.DBRejoin, acttest.VIPUp, acttest.VIPDown,
	acttest.PBXEnsure, acttest.CommandsSend, acttest.HooksTakeover, acttest.HooksRelease, acttest.FenceRun}

// TestTakeOverOrder: database, VIP, PBX, takeover commands, hooks — each
// step stamped in the timeline when it is done, the database promoted with
// the peer's position and the move's force, the hooks given the event.
func TestTakeOverOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := acttest.New(nil)
		every(w, 10*time.Millisecond, allOps...)
		t0 := time.Now()
		m := move
		m.Force = true
		tl, err := newAct(w, false).TakeOver(t.Context(), m)
		if err != nil {
			t.Fatalf("TakeOver: got %v, want nil", err)
		}
		want := []string{acttest.DBPromote, acttest.VIPUp, acttest.PBXEnsure, acttest.CommandsSend, acttest.HooksTakeover}
		if got := w.Ops(); !slices.Equal(got, want) {
			t.Errorf("got steps %q, want %q", got, want)
		}
		for _, s := range []struct {
			name string
			at   time.Time
			want time.Duration
		}{{"db promoted", tl.DBPromoted, 10 * time.Millisecond}, {"VIP up", tl.VIPUp, 20 * time.Millisecond}, {"ready", tl.Ready, 50 * time.Millisecond}} {
			if got := s.at.Sub(t0); got != s.want {
				t.Errorf("%s at %s, want %s", s.name, got, s.want)
			}
		}
		if !tl.VIPDown.IsZero() || !tl.Released.IsZero() || !tl.DBDemoted.IsZero() {
			t.Errorf("takeover timeline has release steps: %+v", tl)
		}
		calls := w.Calls()
		if c := calls[0]; !c.Force || c.LSN != probe.LSN(move.PeerWAL) {
			t.Errorf("promote got force %v peer position %s, want true %s", c.Force, c.LSN, probe.LSN(move.PeerWAL))
		}
		want4 := hooks.Vars{Event: "takeover", Node: "node-b", Peer: "node-a", PeerHost: "198.18.0.1", Role: "primary", Epoch: 7, VIP: "198.18.0.100/24", Reason: "node-a silent"}
		if got := calls[4].Vars; got != want4 {
			t.Errorf("takeover hooks got %+v, want %+v", got, want4)
		}
		if !w.Writable() || !w.HoldsVIP() {
			t.Errorf("after the takeover: writable %v VIP %v, want both", w.Writable(), w.HoldsVIP())
		}
	})
}

// TestTakeOverWithoutResources: a node without a database, VIP, PBX or
// hooks takes over at once and is ready.
func TestTakeOverWithoutResources(t *testing.T) {
	a := act.New(act.Config{Node: "n"}, act.Resources{})
	tl, err := a.TakeOver(context.Background(), move)
	if err != nil || tl.Ready.IsZero() || !tl.DBPromoted.IsZero() || !tl.VIPUp.IsZero() {
		t.Errorf("got %+v, %v; want ready and no database or VIP step", tl, err)
	}
	if _, err := a.Release(context.Background(), move); err != nil {
		t.Errorf("Release: got %v, want nil", err)
	}
	if err := a.RestartPBX(context.Background()); err == nil || !strings.Contains(err.Error(), "not supervised") {
		t.Errorf("RestartPBX without a PBX: got %v, want not supervised", err)
	}
	if err := a.Fence(context.Background(), move); err == nil || !strings.Contains(err.Error(), "no failover.fence_command") {
		t.Errorf("Fence without a command: got %v, want no fence_command", err)
	}
	if err := a.ReAnnounce(context.Background()); err != nil {
		t.Errorf("ReAnnounce without a VIP: got %v, want nil", err)
	}
}

// TestReleaseOrder: hooks, VIP, database — the reverse of a takeover; with
// Config.DBFirst (coordination etcd, whose standbys stream through the VIP)
// the database stops before the VIP goes.
func TestReleaseOrder(t *testing.T) {
	tests := []struct {
		name    string
		dbFirst bool
		want    []string
		at      func(failover.Timeline) [3]time.Time // the want steps' times
	}{
		{"VIP first", false, []string{acttest.HooksRelease, acttest.VIPDown, acttest.DBDemote},
			func(tl failover.Timeline) [3]time.Time { return [3]time.Time{tl.HooksRan, tl.VIPDown, tl.DBDemoted} }},
		{"database first", true, []string{acttest.HooksRelease, acttest.DBDemote, acttest.VIPDown},
			func(tl failover.Timeline) [3]time.Time { return [3]time.Time{tl.HooksRan, tl.DBDemoted, tl.VIPDown} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := acttest.New(nil)
				a := act.New(act.Config{Node: "node-b", VIPAddr: "198.18.0.100/24", PeerHost: "198.18.0.1", DBFirst: tt.dbFirst, Logger: quiet()}, w.Resources())
				if _, err := a.TakeOver(t.Context(), move); err != nil {
					t.Fatal(err)
				}
				every(w, 10*time.Millisecond, allOps...)
				t0 := time.Now()
				tl, err := a.Release(t.Context(), move)
				if err != nil {
					t.Fatalf("Release: got %v, want nil", err)
				}
				if got := w.Ops()[5:]; !slices.Equal(got, tt.want) {
					t.Errorf("got steps %q, want %q", got, tt.want)
				}
				for i, at := range tt.at(tl) {
					if want := time.Duration(i+1) * 10 * time.Millisecond; at.Sub(t0) != want {
						t.Errorf("timeline %+v: %s at %s, want %s", tl, tt.want[i], at.Sub(t0), want)
					}
				}
				if w.Writable() || w.HoldsVIP() {
					t.Errorf("after the release: writable %v VIP %v, want neither", w.Writable(), w.HoldsVIP())
				}
				if v := w.Calls()[5].Vars; v.Event != "release" || v.Role != "standby" {
					t.Errorf("release hooks got %+v, want event release, role standby", v)
				}
			})
		})
	}
}

// TestTakeOverFailsPartway: the first step that fails ends the takeover
// with an error naming it and runs nothing after it; the release the node
// then runs to undo it leaves no writable database and no VIP. A VIP that
// was added but not announced, and failed takeover commands, do not fail
// the takeover.
func TestTakeOverFailsPartway(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		fail    string
		err     error
		wantErr string   // "" : the takeover works
		ran     []string // the steps, the failed one with "!"
	}{
		{acttest.DBPromote, boom, "promote the database: boom", []string{"db.promote!"}},
		{acttest.VIPUp, boom, "boom", []string{"db.promote", "vip.up!"}},
		{acttest.PBXEnsure, boom, "start the PBX: boom", []string{"db.promote", "vip.up", "pbx.ensure_running!"}},
		{acttest.HooksTakeover, boom, "takeover hooks: boom", []string{"db.promote", "vip.up", "pbx.ensure_running", "commands.send", "hooks.takeover!"}},
		{acttest.CommandsSend, boom, "", []string{"db.promote", "vip.up", "pbx.ensure_running", "commands.send!", "hooks.takeover"}},
		{acttest.VIPUp, fmt.Errorf("%w: arping: no such device", vip.ErrAnnounce), "", []string{"db.promote", "vip.up!", "pbx.ensure_running", "commands.send", "hooks.takeover"}},
	} {
		t.Run(tc.fail+" "+tc.err.Error(), func(t *testing.T) {
			w := acttest.New(nil)
			w.Fail(tc.fail, tc.err)
			a := newAct(w, false)
			tl, err := a.TakeOver(context.Background(), move)
			if got := w.Ops(); !slices.Equal(got, tc.ran) {
				t.Errorf("got steps %q, want %q", got, tc.ran)
			}
			if tc.wantErr == "" {
				if err != nil || tl.Ready.IsZero() {
					t.Fatalf("got %v, ready %v; want the takeover to work", err, tl.Ready)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if !tl.Ready.IsZero() {
				t.Errorf("failed takeover is ready at %s, want not ready", tl.Ready)
			}
			if (tc.fail != acttest.DBPromote) != !tl.DBPromoted.IsZero() {
				t.Errorf("timeline %+v: want the promotion stamped exactly when it was done", tl)
			}
			w.Fail(tc.fail, nil)
			if _, err := a.Release(context.Background(), move); err != nil {
				t.Fatalf("undoing release: got %v, want nil", err)
			}
			if w.Writable() || w.HoldsVIP() {
				t.Errorf("after the undo: writable %v VIP %v, want neither", w.Writable(), w.HoldsVIP())
			}
		})
	}
}

// TestReleaseFailures: failed release hooks do not keep the VIP; a VIP
// that cannot be removed ends the release before the database (the node
// stays primary and retries); a database that cannot be demoted fails it.
func TestReleaseFailures(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		fail         string
		wantErr      string
		ran          []string
		wantWritable bool
	}{
		{acttest.HooksRelease, "", []string{"hooks.release!", "vip.down", "db.demote"}, false},
		{acttest.VIPDown, "boom", []string{"hooks.release", "vip.down!"}, true},
		{acttest.DBDemote, "demote the database: boom", []string{"hooks.release", "vip.down", "db.demote!"}, true},
	} {
		t.Run(tc.fail, func(t *testing.T) {
			w := acttest.New(nil)
			w.SetDBRole(dbrole.RolePrimary)
			w.Fail(tc.fail, boom)
			_, err := newAct(w, false).Release(context.Background(), move)
			if got := w.Ops(); !slices.Equal(got, tc.ran) {
				t.Errorf("got steps %q, want %q", got, tc.ran)
			}
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if w.Writable() != tc.wantWritable {
				t.Errorf("writable after: got %v, want %v", w.Writable(), tc.wantWritable)
			}
		})
	}
}

// TestReleaseWithRejoin: with Rejoin a release only stops the database and
// returns; the rejoin runs in the background, and a takeover waits for it
// before it promotes.
func TestReleaseWithRejoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := acttest.New(nil)
		w.SetDBRole(dbrole.RolePrimary)
		w.Takes(acttest.DBRejoin, 5*time.Second)
		a := newAct(w, true)
		t0 := time.Now()
		tl, err := a.Release(t.Context(), move)
		if err != nil {
			t.Fatalf("Release: got %v, want nil", err)
		}
		if tl.DBDemoted != t0 || w.Writable() {
			t.Errorf("database step at %s, writable %v; want the stop at once and not writable", tl.DBDemoted.Sub(t0), w.Writable())
		}
		synctest.Wait()
		if got, want := w.Ops(), []string{acttest.HooksRelease, acttest.VIPDown, acttest.DBStop}; !slices.Equal(got, want) {
			t.Errorf("got steps %q, want %q while the rejoin runs", got, want)
		}
		if _, err := a.TakeOver(t.Context(), move); err != nil {
			t.Fatal(err)
		}
		var rejoined, promoted time.Time
		for _, c := range w.Calls() {
			switch c.Op {
			case acttest.DBRejoin:
				rejoined = c.End
			case acttest.DBPromote:
				promoted = c.Start
			}
		}
		if rejoined.Sub(t0) != 5*time.Second || promoted.Before(rejoined) {
			t.Errorf("rejoin ended at %s, promotion began at %s; want the promotion after the rejoin", rejoined.Sub(t0), promoted.Sub(t0))
		}
		if err := a.WaitRejoin(t.Context()); err != nil {
			t.Errorf("WaitRejoin: got %v, want nil", err)
		}
	})
}

// TestRejoinFailedAdvice: db_rejoin_failed's summary says what follows a
// failed rejoin: the standby rebuild that starts, the operator's pbxha
// standby rebuild by default, or Config.RejoinAdvice (MariaDB/MySQL have
// no standby rebuild).
func TestRejoinFailedAdvice(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  act.Config
		want string
	}{
		{name: "default", want: "run pbxha standby rebuild on node-b"},
		{name: "advice", cfg: act.Config{RejoinAdvice: "point it at the new primary by hand"}, want: "point it at the new primary by hand"},
		{name: "rebuild", cfg: act.Config{OnRejoinFailed: func(error) {}}, want: "a standby rebuild starts (database.rebuild_on_rewind_failure)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := acttest.New(nil)
			w.SetDBRole(dbrole.RolePrimary)
			w.Fail(acttest.DBRejoin, errors.New("pg_rewind failed"))
			var mu sync.Mutex
			var got []event.Event
			cfg := tc.cfg
			cfg.Node, cfg.PeerHost, cfg.Rejoin, cfg.Logger = "node-b", "198.18.0.1", true, quiet()
			cfg.OnEvent = func(e event.Event) { mu.Lock(); got = append(got, e); mu.Unlock() }
			a := act.New(cfg, w.Resources())
			if _, err := a.Release(t.Context(), move); err != nil {
				t.Fatalf("Release: got %v, want nil", err)
			}
			if err := a.WaitRejoin(t.Context()); err != nil {
				t.Fatalf("WaitRejoin: got %v, want nil", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 || got[0].Kind != event.DBRejoinFailed {
				t.Fatalf("got events %v, want one db_rejoin_failed", got)
			}
			if !strings.HasSuffix(got[0].Summary, "; "+tc.want) {
				t.Errorf("got summary %q, want it to end with %q", got[0].Summary, tc.want)
			}
		})
	}
}

// TestReleaseRejoinsAStoppedDatabase: a release that finds its database
// already stopped (it went down, which is why the node releases) starts
// the rejoin all the same, so that it comes back as a standby of the new
// primary; a standby found is left alone.
func TestReleaseRejoinsAStoppedDatabase(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before dbrole.Role
		rejoin bool
	}{
		{"stopped", dbrole.RoleStopped, true},
		{"already a standby", dbrole.RoleStandby, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := acttest.New(nil)
				w.SetDBRole(tc.before)
				a := newAct(w, true)
				if _, err := a.Release(t.Context(), move); err != nil {
					t.Fatalf("Release: %v", err)
				}
				if err := a.WaitRejoin(t.Context()); err != nil {
					t.Fatal(err)
				}
				if got := slices.Contains(w.Ops(), acttest.DBRejoin); got != tc.rejoin {
					t.Errorf("rejoin ran: %v, want %v (steps %q)", got, tc.rejoin, w.Ops())
				}
				if tc.rejoin && w.DBRole() != dbrole.RoleStandby {
					t.Errorf("database after the rejoin: %s, want standby", w.DBRole())
				}
			})
		})
	}
}

// TestTakeOverOvertakenWhileRejoining: a takeover held up by a database
// rejoin asks Move.Still before promoting; a live primary heard meanwhile
// ends it with ErrOvertaken and nothing done.
func TestTakeOverOvertakenWhileRejoining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := acttest.New(nil)
		w.SetDBRole(dbrole.RolePrimary)
		w.Takes(acttest.DBRejoin, 5*time.Second)
		a := newAct(w, true)
		if _, err := a.Release(t.Context(), move); err != nil {
			t.Fatal(err)
		}
		asked := 0
		m := move
		m.Still = func() error {
			asked++
			return fmt.Errorf("failover: take over: %w: node-a is primary at epoch 8 now", failover.ErrOvertaken)
		}
		_, err := a.TakeOver(t.Context(), m)
		if !errors.Is(err, failover.ErrOvertaken) || asked != 1 {
			t.Fatalf("TakeOver: got %v after %d asks, want ErrOvertaken after one", err, asked)
		}
		for _, op := range w.Ops() {
			if op == acttest.DBPromote || op == acttest.VIPUp {
				t.Errorf("an overtaken takeover did %s", op)
			}
		}
		if w.Writable() || w.HoldsVIP() {
			t.Errorf("after an overtaken takeover: writable %v VIP %v, want neither", w.Writable(), w.HoldsVIP())
		}
	})
}

// TestReleaseWithRejoinStopFails: a stop command that fails falls back to
// demoting, and no rejoin starts.
func TestReleaseWithRejoinStopFails(t *testing.T) {
	w := acttest.New(nil)
	w.SetDBRole(dbrole.RolePrimary)
	w.Fail(acttest.DBStop, errors.New("pg_ctl: no"))
	if _, err := newAct(w, true).Release(context.Background(), move); err != nil {
		t.Fatalf("Release: got %v, want nil", err)
	}
	if got, want := w.Ops(), []string{"hooks.release", "vip.down", "db.stop!", "db.demote"}; !slices.Equal(got, want) {
		t.Errorf("got steps %q, want %q", got, want)
	}
	if w.Writable() {
		t.Error("writable after the release, want demoted")
	}
}

// TestFence: the fence command gets the event; its failure names the peer.
func TestFence(t *testing.T) {
	w := acttest.New(nil)
	a := newAct(w, false)
	if err := a.Fence(context.Background(), move); err != nil {
		t.Fatalf("Fence: got %v, want nil", err)
	}
	if v := w.Calls()[0].Vars; v.Event != "fence" || v.Peer != "node-a" || v.PeerHost != "198.18.0.1" {
		t.Errorf("fence got %+v, want event fence for node-a at 198.18.0.1", v)
	}
	w.Fail(acttest.FenceRun, errors.New("ipmi: no answer"))
	if err := a.Fence(context.Background(), move); err == nil || !strings.Contains(err.Error(), "fence node-a (198.18.0.1): ipmi: no answer") {
		t.Errorf("failed fence: got %v, want it to name the peer and the cause", err)
	}
}

// TestTakeOverRecordsFilesAge: with file sync, the takeover's timeline
// records when the files were last synced, and its details their age.
func TestTakeOverRecordsFilesAge(t *testing.T) {
	synced := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := act.New(act.Config{Node: "n", FilesSynced: func() time.Time { return synced }}, act.Resources{})
	tl, err := a.TakeOver(t.Context(), move)
	if err != nil {
		t.Fatalf("TakeOver: got %v, want nil", err)
	}
	if !tl.FilesSynced.Equal(synced) {
		t.Errorf("got files synced %s, want %s", tl.FilesSynced, synced)
	}
	tl.Detected = synced.Add(90 * time.Second)
	if got := tl.Details()["files_age_ms"]; got != int64(90000) {
		t.Errorf("got files_age_ms %v, want 90000", got)
	}
	if _, ok := (failover.Timeline{}).Details()["files_age_ms"]; ok {
		t.Error("a timeline without file sync reports files_age_ms")
	}
}

// TestStepDownOrder: a primary that steps down ends writes first — the
// database, then the VIP, then the release hooks — each step stamped.
func TestStepDownOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := acttest.New(nil)
		w.SetDBRole(dbrole.RolePrimary)
		a := newAct(w, false)
		if err := w.VIP.Up(t.Context()); err != nil {
			t.Fatal(err)
		}
		every(w, 10*time.Millisecond, allOps...)
		t0 := time.Now()
		tl, err := a.StepDown(t.Context(), move)
		if err != nil {
			t.Fatalf("StepDown: got %v, want nil", err)
		}
		if got, want := w.Ops()[1:], []string{acttest.DBDemote, acttest.VIPDown, acttest.HooksRelease}; !slices.Equal(got, want) {
			t.Errorf("got steps %q, want %q", got, want)
		}
		if tl.DBDemoted.Sub(t0) != 10*time.Millisecond || tl.VIPDown.Sub(t0) != 20*time.Millisecond || tl.HooksRan.Sub(t0) != 30*time.Millisecond {
			t.Errorf("timeline %+v, want database at 10ms, VIP at 20ms, hooks at 30ms", tl)
		}
		if w.Writable() || w.HoldsVIP() {
			t.Errorf("after the step-down: writable %v VIP %v, want neither", w.Writable(), w.HoldsVIP())
		}
	})
}

// TestStepDownEndsWritesFirst: the database step of a step-down ends once
// the database no longer takes writes. A server seen writable that refuses
// new sessions once its stop began (a fast shutdown waiting for a cut-off
// standby to confirm the last WAL) lets the VIP go at once while the stop
// runs on; the rejoin follows the stop, and a takeover waits for both. A
// server that refused sessions before the stop began (starting up: it may
// yet turn writable) gets no early end.
func TestStepDownEndsWritesFirst(t *testing.T) {
	for _, tc := range []struct {
		name          string
		refusingFirst bool
		wantDBStep    time.Duration
	}{
		{"refuses sessions once the stop began", false, 20 * time.Millisecond},
		{"refusing before the stop began", true, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := acttest.New(nil)
				w.SetDBRole(dbrole.RolePrimary)
				w.SetDBRefusing(tc.refusingFirst)
				a := newAct(w, true)
				if err := w.VIP.Up(t.Context()); err != nil {
					t.Fatal(err)
				}
				w.Set(acttest.DBStop, func(ctx context.Context) error {
					w.SetDBRefusing(true)
					time.Sleep(time.Minute)
					return nil
				})
				every(w, time.Second, acttest.DBRejoin)
				t0 := time.Now()
				tl, err := a.StepDown(t.Context(), move)
				if err != nil {
					t.Fatalf("StepDown: got %v, want nil", err)
				}
				if got := tl.DBDemoted.Sub(t0); got != tc.wantDBStep {
					t.Errorf("database step done after %s, want %s", got, tc.wantDBStep)
				}
				if w.HoldsVIP() {
					t.Errorf("after the step-down: the VIP is held, want it gone")
				}
				if _, err := a.TakeOver(t.Context(), move); err != nil {
					t.Fatalf("TakeOver after the step-down: %v", err)
				}
				var stopped, rejoined, promoted time.Time
				for _, c := range w.Calls() {
					switch c.Op {
					case acttest.DBStop:
						stopped = c.End
					case acttest.DBRejoin:
						rejoined = c.End
					case acttest.DBPromote:
						promoted = c.Start
					}
				}
				if stopped.Sub(t0) != time.Minute || rejoined.Sub(t0) != time.Minute+time.Second || promoted.Before(rejoined) {
					t.Errorf("stop ended at %s, rejoin at %s, promotion began at %s; want 1m, 1m1s, then the promotion",
						stopped.Sub(t0), rejoined.Sub(t0), promoted.Sub(t0))
				}
			})
		})
	}
}

// TestStepDownDatabaseFails: a database that keeps taking writes ends the
// step-down before the VIP goes: the node stays primary and retries.
func TestStepDownDatabaseFails(t *testing.T) {
	w := acttest.New(nil)
	w.SetDBRole(dbrole.RolePrimary)
	w.Fail(acttest.DBDemote, errors.New("still primary"))
	if _, err := newAct(w, false).StepDown(context.Background(), move); err == nil || !strings.Contains(err.Error(), "demote the database: still primary") {
		t.Fatalf("got %v, want the database error", err)
	}
	if got := w.Ops(); !slices.Equal(got, []string{"db.demote!"}) {
		t.Errorf("got steps %q, want only the failed demotion", got)
	}
}

// TestVIPTrackingActions: RestoreVIP adds the VIP again, DropVIP removes
// it, and the witness reports who answers on it.
func TestVIPTrackingActions(t *testing.T) {
	w := acttest.New(nil)
	a := newAct(w, false)
	ctx := context.Background()
	if err := a.RestoreVIP(ctx); err != nil || !w.HoldsVIP() {
		t.Fatalf("RestoreVIP: got %v, held %v; want the VIP back", err, w.HoldsVIP())
	}
	if err := a.DropVIP(ctx); err != nil || w.HoldsVIP() {
		t.Fatalf("DropVIP: got %v, held %v; want it gone", err, w.HoldsVIP())
	}
	for _, tc := range []struct {
		answer string
		want   failover.WitnessState
	}{{"", failover.WitnessAbsent}, {"02:98:18:00:00:0b", failover.WitnessHeld}} {
		w.SetAnswer(tc.answer)
		got, who, err := a.Witness(ctx)
		if err != nil || got != tc.want || who != tc.answer {
			t.Errorf("answer %q: got %s %q %v, want %s", tc.answer, got, who, err, tc.want)
		}
	}
	w.Fail(acttest.WitnessAsk, errors.New("no packet socket"))
	if got, _, err := a.Witness(ctx); err == nil || got != failover.WitnessUnknown {
		t.Errorf("failing witness: got %s %v, want unknown and the error", got, err)
	}
}
