package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/ami/amitest"
	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/pgtest"
)

func readFixture(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDaemonEveryProbeKind runs the real binary with one probe of each kind
// against real or wire-faithful servers — the SIP test PBX process, the ESL
// and AMI doubles, a real PostgreSQL, a plugin script, a TCP listener — and
// checks that each is wired from the config, reaches ok, and shows its
// numbers in status and in the metrics.
func TestDaemonEveryProbeKind(t *testing.T) {
	pbxha, testpbx := build(t)
	sipAddr := testenv.StartTestPBX(t, testpbx).UDP

	fs, err := esltest.New(esltest.Options{Password: "s3cret", Responses: map[string]string{
		"status":           readFixture(t, "../esl/testdata/status-1.10.txt"),
		"sofia status":     readFixture(t, "../esl/testdata/sofia-status-1.10.txt"),
		"show calls count": readFixture(t, "../esl/testdata/calls-count.txt"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	ast, err := amitest.Start(amitest.Options{Status: amitest.Status{CurrentCalls: 4, Startup: time.Now().Add(-time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ast.Close() })
	db := pgtest.StartPrimary(t, pgtest.Options{})

	dir := t.TempDir()
	for name, content := range map[string]string{
		"esl.pw":     "s3cret\n",
		"ami.secret": "secret\n",
		"check.sh":   "#!/bin/sh\necho 'TRUNKS OK - 2 registered | trunks=2'\nexit 0\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	socket, metricsAddr := filepath.Join(dir, "pbxha.sock"), testenv.FreeAddr(t)
	cfg := fmt.Sprintf(`node: {name: node-a}
control: {socket: %[1]s}
metrics: {listen: "%[2]s"}
state_dir: %[3]s
probes:
  sip:
    - {name: sip, target: "sip:%[4]s;transport=tcp", interval: 300ms, timeout: 250ms, rise: 1}
  esl:
    - {name: fs, address: "%[5]s", password_file: %[3]s/esl.pw, profiles: [internal], count_calls: true, interval: 300ms, timeout: 250ms, rise: 1}
  pg:
    - {name: db, dsn: "%[6]s", expect_role: primary, interval: 500ms, timeout: 400ms, rise: 1}
  ami:
    - {name: ast, address: "%[7]s", username: pbxha, secret_file: %[3]s/ami.secret, interval: 500ms, timeout: 400ms, rise: 1}
  tcp:
    - {name: sip-tcp, address: "%[4]s", interval: 300ms, timeout: 250ms, rise: 1}
  exec:
    - {name: trunks, command: ["%[3]s/check.sh"], interval: 500ms, timeout: 400ms, rise: 1}
`, socket, metricsAddr, dir, sipAddr, fs.Addr(), db.DSN(), ast.Addr())
	cfgPath := filepath.Join(dir, "pbxha.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	d := start(t, nil, pbxha, "run", "-c", cfgPath)
	testenv.WaitFor(t, 30*time.Second, "every probe ok", func() bool {
		st, err := status(t, socket)
		if err != nil || st.Health != "healthy" {
			return false
		}
		for _, p := range st.Probes {
			if p.State != "ok" {
				return false
			}
		}
		return len(st.Probes) == 6
	})
	st, _ := status(t, socket)
	values := map[string]map[string]float64{}
	for _, p := range st.Probes {
		values[p.Name] = p.Last.Values
	}
	for _, c := range []struct {
		probe, key string
		want       float64
	}{
		{"fs", "calls", 3},
		{"fs", "profiles_running", 2},
		{"db", "in_recovery", 0},
		{"ast", "calls", 4},
		{"trunks", "trunks", 2},
	} {
		if got, ok := values[c.probe][c.key]; !ok || got != c.want {
			t.Errorf("probe %s value %s: got %v (present %v), want %v", c.probe, c.key, got, ok, c.want)
		}
	}
	var n int
	if err := db.Conn(t).QueryRow(t.Context(), "SELECT count(*) FROM pbxha_heartbeat WHERE node = 'node-a'").Scan(&n); err != nil || n != 1 {
		t.Errorf("heartbeat row of node-a: got %d rows, %v; want 1", n, err)
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics listener: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`pbxha_probe_up{kind="esl",probe="fs"} 1`,
		`pbxha_probe_value{key="calls",kind="esl",probe="fs"} 3`,
		`pbxha_probe_value{key="in_recovery",kind="pg",probe="db"} 0`,
		`pbxha_node_health 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(d.output(), "s3cret") {
		t.Error("the ESL password appears in the daemon's log")
	}
}
