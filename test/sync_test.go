package test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/netns"
)

// TestPairFileSync: two pbxha nodes in namespaces keep a recordings
// directory in step with rsync: files written on the primary reach the
// standby, both show the direction and the directory in status, and after
// a planned switchover the new standby pulls from the new primary; the
// takeover's event records how old the files were.
func TestPairFileSync(t *testing.T) {
	testenv.LookPath(t, "rsync")
	pbxha, testpbx := build(t)
	topo := netns.New(t, netns.Options{Hosts: []string{"n1", "n2", "client"}})
	h1, h2, client := topo.Host("n1"), topo.Host("n2"), topo.Host("client")
	tbAddr := startTieBreaker(t, client, client.IP.String()+":7000")
	key := newPairKey(t)
	tmp := t.TempDir()
	secrets := filepath.Join(tmp, "sync.secrets")
	if err := os.WriteFile(secrets, []byte("pbxha:"+rand.Text()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	syncSection := func(self, peer *netns.Host) string {
		dir := filepath.Join(tmp, self.Name+"-recordings")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs[self.Name] = dir
		// Ends the failover section: sync is a top-level key.
		return fmt.Sprintf(`sync:
  listen: "%s:8873"
  peer: "%s:8873"
  secrets_file: %s
  lag_alert: 1m
  directories:
    - {name: recordings, source: %s, interval: 1m, bwlimit: 4096}
`, self.IP, peer.IP, secrets, dir)
	}
	f := &pairFixture{t: t, pbxha: pbxha, client: client}
	f.n1 = startPairNode(t, h1, h2, nil, pbxha, testpbx, key, tbAddr, pairOptions{failoverExtra: syncSection(h1, h2)})
	f.n2 = startPairNode(t, h2, h1, nil, pbxha, testpbx, key, tbAddr, pairOptions{failoverExtra: syncSection(h2, h1)})
	f.nodes = []*pairNode{f.n1, f.n2}
	f.wait(30*time.Second, "one primary and one healthy standby", func() bool {
		p := f.primary()
		if p == nil {
			return false
		}
		s, err := f.other(p).status(t)
		return err == nil && s.Role == "standby" && s.Health == "healthy"
	})
	prim := f.primary()
	stby := f.other(prim)

	// The primary's files, with the marker that says its disk is mounted,
	// reach the standby within seconds (the change notice), though the
	// interval is a minute.
	write := func(n *pairNode, name string, size int) []byte {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		if err := os.WriteFile(filepath.Join(dirs[n.host.Name], name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return b
	}
	has := func(n *pairNode, name string, want []byte) func() bool {
		return func() bool {
			b, err := os.ReadFile(filepath.Join(dirs[n.host.Name], name))
			return err == nil && bytes.Equal(b, want)
		}
	}
	write(prim, ".pbxha-sync", 0)
	a := write(prim, "a.wav", 300<<10)
	f.wait(30*time.Second, "a.wav on the standby", has(stby, "a.wav", a))
	var dir control.SyncDir
	f.wait(10*time.Second, "the standby's pull recorded in status", func() bool {
		s, err := stby.status(t)
		if err != nil || s.Sync == nil || len(s.Sync.Directories) != 1 {
			return false
		}
		dir = s.Sync.Directories[0]
		return s.Sync.Direction == "pull" && dir.State == "ok" && dir.LastSuccess != nil
	})
	if s, err := prim.status(t); err != nil || s.Sync == nil || s.Sync.Direction != "serve" {
		t.Errorf("primary's sync status: %+v, %v; want serve", s.Sync, err)
	}
	if dir.TotalFiles < 2 || dir.TotalBytes < 300<<10 {
		t.Errorf("standby's directory status %+v: want the files and bytes moved", dir)
	}
	out, err := exec.Command(pbxha, "status", "--socket", stby.socket).CombinedOutput()
	// The directory may be syncing again (a change notice); it was synced.
	if err != nil || !strings.Contains(string(out), "sync pull") || !regexp.MustCompile(`recordings  (ok|syncing)  synced `).Match(out) {
		t.Errorf("pbxha status on the standby: %v\n%s\nwant the sync lines", err, out)
	}

	// Switchover: the direction flips.
	out, err = exec.Command(pbxha, "switchover", "--socket", prim.socket, "--to", stby.host.Name, "--timeout", "20s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		f.dump()
		t.Fatalf("pbxha switchover: %v\n%s", err, out)
	}
	prim, stby = stby, prim
	b := write(prim, "b.wav", 100<<10)
	f.wait(30*time.Second, "b.wav, written on the new primary, on the new standby", has(stby, "b.wav", b))
	f.wait(10*time.Second, "the new standby pulling and the new primary serving", func() bool {
		s1, err1 := stby.status(t)
		s2, err2 := prim.status(t)
		return err1 == nil && err2 == nil && s1.Sync.Direction == "pull" && s2.Sync.Direction == "serve"
	})
	// The new primary's switchover event says how old its files were.
	evs, err := event.ReadLog(filepath.Join(filepath.Dir(prim.socket), "events.jsonl"), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		if e.Kind == event.Switchover {
			age, ok := e.Details["files_age_ms"].(float64)
			found = ok && age >= 0 && age < 70_000
			if !found {
				t.Errorf("switchover event details %v: want files_age_ms under the interval", e.Details)
			}
		}
	}
	if !found {
		t.Errorf("no switchover event with files_age_ms on the new primary")
	}
}
