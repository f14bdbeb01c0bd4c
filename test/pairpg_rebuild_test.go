package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPairStandbyRebuild: the standby's database of a namespace pair is
// broken (stopped, its control file gone); `pbxha standby rebuild` on the
// primary is refused, on the standby it clones the primary's ~100 MB anew
// with progress and ends streaming, and the pair then switches over onto
// the rebuilt node, whose database takes the writes.
func TestPairStandbyRebuild(t *testing.T) {
	f := startPGPair(t)
	f.wait(40*time.Second, "n1 primary holding and serving the VIP", f.settled(f.n1))
	prim, stby := f.n1, f.n2
	f.db[prim].Exec(t, "CREATE TABLE filler AS SELECT g, repeat(md5(g::text), 30) AS pad FROM generate_series(1, 100000) g")
	streams := func() bool {
		rec, from, err := f.dbState(stby)
		return err == nil && rec && from == prim.host.IP.String()
	}
	f.wait(60*time.Second, "n2's database streaming from n1", streams)

	out, err := exec.Command(f.pbxha, "standby", "rebuild", "--socket", prim.socket).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "this node is the primary") {
		t.Errorf("standby rebuild on the primary: %v\n%s\nwant refused", err, out)
	}

	// Break the standby: stopped, without its control file.
	f.db[stby].StopFast(t)
	if err := os.Remove(filepath.Join(f.db[stby].DataDir, "global", "pg_control")); err != nil {
		t.Fatal(err)
	}
	f.wait(30*time.Second, "the standby's pg probe failed", func() bool {
		s, err := stby.status(t)
		return err == nil && s.Health == "failed"
	})
	start := time.Now()
	out, err = exec.Command(f.pbxha, "standby", "rebuild", "--socket", stby.socket, "--poll", "200ms").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "streaming") || !strings.Contains(string(out), "100%") {
		f.dump()
		t.Fatalf("standby rebuild: %v\n%s", err, out)
	}
	t.Logf("pbxha standby rebuild in %s; its last line: %s", time.Since(start).Round(time.Millisecond), lastLine(string(out)))
	f.wait(30*time.Second, "the rebuilt database streaming from n1", streams)
	var n int
	f.db[stby].QueryRow(t, "SELECT count(*) FROM filler", nil, &n)
	if n != 100000 {
		t.Errorf("got %d rows on the rebuilt standby, want 100000", n)
	}
	s, err := stby.status(t)
	if err != nil || s.Rebuild == nil || s.Rebuild.State != "finished" || s.Rebuild.Percent != 100 {
		t.Errorf("status after the rebuild: %+v, %v; want finished at 100%%", s.Rebuild, err)
	}

	// The pair switches over onto the rebuilt node.
	f.wait(60*time.Second, "n2 a healthy standby again", func() bool {
		s, err := stby.status(t)
		return err == nil && s.Role == "standby" && s.Health == "healthy"
	})
	out, err = exec.Command(f.pbxha, "switchover", "--socket", prim.socket, "--to", stby.host.Name, "--drain-timeout", "0s", "--timeout", "60s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		f.dump()
		t.Fatalf("switchover onto the rebuilt node: %v\n%s", err, out)
	}
	f.wait(40*time.Second, "n2 primary holding and serving the VIP", f.settled(stby))
	f.db[stby].Exec(t, "INSERT INTO filler VALUES (100001, 'after the rebuild')")
	f.db[stby].QueryRow(t, "SELECT count(*) FROM filler", nil, &n)
	if n != 100001 {
		t.Errorf("got %d rows on the new primary, want 100001", n)
	}
}

// lastLine is the last non-blank line of s, after a progress bar's
// carriage returns.
func lastLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return fmt.Sprintf("%q", l)
		}
	}
	return ""
}
