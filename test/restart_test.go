package test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
)

// TestPairRestartKeepsRole restarts pbxha on the primary as an upgrade
// would (`pbxha restart`, which `systemctl restart` amounts to): the
// service does not move. The VIP stays on the primary while its sidecar is
// gone, the standby holds off and says why, the client is served
// throughout, and the new process resumes as primary at the same epoch.
func TestPairRestartKeepsRole(t *testing.T) {
	f := startPair(t, "")
	f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
	prim := f.primary()
	stby := f.other(prim)
	f.wait(20*time.Second, "the standby healthy with a live peer", func() bool {
		s, err := stby.status(t)
		return err == nil && s.Health == "healthy" && s.Pair != nil && s.Pair.Peer.Alive
	})
	st, err := prim.status(t)
	if err != nil {
		t.Fatal(err)
	}
	epoch := st.Pair.Epoch

	out, err := exec.Command(f.pbxha, "restart", "--socket", prim.socket).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "role is kept") {
		t.Fatalf("pbxha restart: %v\n%s", err, out)
	}
	exited := make(chan error, 1)
	go func() { exited <- prim.pbxha.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("pbxha on %s exited with %v after pbxha restart, want 0", prim.host.Name, err)
		}
	case <-time.After(20 * time.Second):
		f.dump()
		t.Fatalf("pbxha on %s still runs 20s after pbxha restart", prim.host.Name)
	}
	// Well past dead_after and the takeover wait: the standby holds off,
	// the VIP stays where it is, the client is served through it.
	f.wait(10*time.Second, "the standby saying the primary restarts", func() bool {
		s, err := stby.status(t)
		return err == nil && s.Pair != nil && !s.Pair.Peer.Alive && strings.Contains(s.Pair.Reason, "restarting with the role kept")
	})
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if stby.role(t) != "standby" || stby.holdsVIP(t) || !prim.holdsVIP(t) {
			f.dump()
			t.Fatalf("while %s's sidecar restarts: %s is %s, VIP on it %v, on %s %v; want the VIP to stay",
				prim.host.Name, stby.host.Name, stby.role(t), stby.holdsVIP(t), prim.host.Name, prim.holdsVIP(t))
		}
	}
	if !f.viaVIP() {
		t.Errorf("the client is not served through the VIP while the sidecar restarts")
	}

	prim.startDaemon(t)
	f.waitOneHolder(30*time.Second, prim.host.Name+" primary again, heard by the standby", func() bool {
		s, err := stby.status(t)
		return prim.role(t) == "primary" && prim.holdsVIP(t) && err == nil && s.Pair != nil && s.Pair.Peer.Alive && s.Pair.Peer.Role == "primary"
	})
	if st, _ := prim.status(t); st.Pair == nil || st.Pair.Epoch != epoch {
		t.Errorf("epoch after the restart: got %+v, want %d unchanged", st.Pair, epoch)
	}
	if !strings.Contains(prim.logs(), "resuming as primary") {
		t.Errorf("%s's log does not say it resumed as primary", prim.host.Name)
	}
	for _, n := range f.nodes {
		for _, h := range mustStatus(t, n).Pair.RoleHistory {
			if h.To == "primary" && h.Epoch != epoch {
				t.Errorf("%s took over at epoch %d around the restart: %s", n.host.Name, h.Epoch, h.Reason)
			}
		}
	}
	if !f.viaVIP() {
		t.Errorf("the client is not served through the VIP after the restart")
	}
}

func mustStatus(t *testing.T, n *pairNode) control.Status {
	t.Helper()
	s, err := n.status(t)
	if err != nil || s.Pair == nil {
		t.Fatalf("%s: status: %v (pair %v)", n.host.Name, err, s.Pair)
	}
	return s
}
