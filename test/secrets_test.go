package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/ami/amitest"
	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/internal/testenv"
)

// rawReceiver records every request body it gets and answers 204.
type rawReceiver struct {
	mu     sync.Mutex
	bodies []string
}

func (r *rawReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, string(b))
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *rawReceiver) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.bodies, "\n")
}

// secretMark is in every secret the test feeds pbxha; the tag after it says
// where it came from (file, env, reload) and which field it filled.
var secretMark = regexp.MustCompile(`S3CRET-[a-z]+-[a-z-]+`)

// TestSecretsStayHidden runs the real daemon in pair mode with a marked
// secret in every secret-bearing key — probe passwords and DSNs (with an
// sslpassword), the alert endpoint's HMAC secret, Authorization header
// and URL token, the database DSN and env, the supervised PBX's env and
// arguments, the fence command's arguments, hook and exec arguments — some
// from the file, some from PBXHA_ variables, then all replaced by a SIGHUP
// reload. The peer never answers, so the node fences it (the fence agent
// fails), takes over, fails to promote, undoes, and retries: errors,
// events and alerts are produced. No marked secret may appear in any log
// line (debug included), `pbxha status` (text and JSON), the event log
// (`pbxha events --json`), the alert bodies, or `pbxha config show`.
func TestSecretsStayHidden(t *testing.T) {
	pbxha, testpbx := build(t)
	dir := t.TempDir()
	sip := testenv.StartTestPBX(t, testpbx).UDP
	eslSrv, err := esltest.New(esltest.Options{Password: "ClueCon"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eslSrv.Close() })
	amiSrv, err := amitest.Start(amitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { amiSrv.Close() })
	rcv := &rawReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rcv}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	closedPG := testenv.FreeAddr(t)
	pgHost, pgPort, _ := net.SplitHostPort(closedPG)
	tb := startTieBreaker(t, nil, "127.0.0.1:0")
	key := newPairKey(t)
	socket := filepath.Join(dir, "pbxha.sock")
	cfgPath := filepath.Join(dir, "pbxha.yaml")

	config := func(from string) string {
		m := func(field string) string { return "S3CRET-" + from + "-" + field }
		return fmt.Sprintf(`node: {name: node-a, cluster: lab}
log: {level: debug}
control: {socket: %[1]s}
state_dir: %[2]s
probes:
  sip:
    - {name: pbx, target: "sip:%[3]s;transport=udp", interval: 200ms, timeout: 150ms}
  esl:
    - {name: fs, address: "%[4]s", password: "%[5]s", interval: 300ms, timeout: 250ms, critical: false}
  ami:
    - {name: ast, address: "%[6]s", username: pbxha, secret: "%[7]s", interval: 300ms, timeout: 250ms, critical: false}
  pg:
    - {name: db, dsn: "host=%[8]s port=%[9]s user=u password=%[10]s sslpassword=%[11]s dbname=x connect_timeout=1", expect_role: any, interval: 300ms, timeout: 250ms, critical: false}
  exec:
    - {name: plugin, command: ["/bin/sh", "-c", "echo OK", "%[12]s"], interval: 300ms, timeout: 250ms, critical: false}
pbx:
  supervise:
    mode: exec
    command: ["/bin/sh", "-c", "exec sleep 600", "%[13]s"]
    env: ["PBX_TOKEN=%[14]s"]
alerts:
  backoff_initial: 100ms
  backoff_max: 300ms
  endpoints:
    - name: ops
      url: "http://%[15]s/hook/%[16]s?token=%[17]s"
      secret: "%[18]s"
      headers: ["Authorization: Bearer %[19]s"]
peer:
  paths: [{local: "%[20]s", peer: "%[21]s"}]
  key_file: %[22]s
  interval: 100ms
  dead_after: 500ms
  init_dead: 500ms
failover:
  tie_breakers: ["%[23]s"]
  fence_command: ["/bin/sh", "-c", "exit 0", "%[24]s"]
database:
  dsn: "postgres://u:%[25]s@%[26]s/x?sslpassword=%[27]s&connect_timeout=1"
  promote_timeout: 1s
  stop_command: ["/bin/true", "%[28]s"]
  env: ["PGPASSWORD=%[29]s", "PRIMARY_CONNINFO=host=x password=%[30]s"]
hooks:
  takeover:
    - {name: mark, command: ["/bin/true", "%[31]s"]}
`, socket, dir, sip, eslSrv.Addr(), m("esl"), amiSrv.Addr(), m("ami"), pgHost, pgPort, m("pg-password"), m("pg-sslpassword"),
			m("exec-arg"), m("pbx-arg"), m("pbx-env"), ln.Addr(), m("url-path"), m("url-token"), m("hmac"), m("bearer"),
			testenv.FreeAddrOn(t, "127.0.0.1"), testenv.FreeAddrOn(t, "127.0.0.2"), key, tb, m("fence-arg"),
			m("db-password"), closedPG, m("db-sslpassword"), m("stop-arg"), m("pgpassword"), m("conninfo"), m("hook-arg"))
	}
	if err := os.WriteFile(cfgPath, []byte(config("file")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PBXHA_PROBES_ESL_0_PASSWORD=S3CRET-env-esl",
		"PBXHA_ALERTS_ENDPOINTS_0_SECRET=S3CRET-env-hmac",
		"PBXHA_DATABASE_DSN=postgres://u:S3CRET-env-db-password@" + closedPG + "/x?connect_timeout=1",
	}
	d := start(t, env, pbxha, "run", "-c", cfgPath)
	actedOn := func() bool {
		st, err := status(t, socket)
		return err == nil && st.Pair != nil && st.Pair.LastError != "" && len(rcv.all()) > 0
	}
	testenv.WaitFor(t, 30*time.Second, "a failed action and an alert", actedOn)

	// The reload: every secret replaced.
	if err := os.WriteFile(cfgPath, []byte(config("reload")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "the reload applied", func() bool {
		return strings.Contains(d.output(), "config reloaded")
	})
	testenv.WaitFor(t, 20*time.Second, "checks with the reloaded secrets", func() bool {
		st, err := status(t, socket)
		return err == nil && st.Config.LoadedAt.After(st.StartedAt) && st.Probes[1].Checks > 2
	})

	outputs := map[string]string{}
	for name, args := range map[string][]string{
		"status":        {"status", "--socket", socket},
		"status --json": {"status", "--json", "--socket", socket},
		"events --json": {"events", "--json", "-c", cfgPath},
		"config show":   {"config", "show", "-c", cfgPath},
	} {
		cmd := exec.Command(pbxha, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pbxha %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		outputs[name] = string(out)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Fatal("pbxha did not stop within 60s of SIGTERM")
	}
	outputs["daemon log"] = d.output()
	outputs["alert bodies"] = rcv.all()
	if !strings.Contains(outputs["events --json"], "action_failed") || !strings.Contains(outputs["alert bodies"], "action_failed") {
		t.Errorf("got no action_failed in the events or alerts, want the failed promotion reported:\n%s", outputs["events --json"])
	}
	if !strings.Contains(outputs["config show"], "REDACTED") || !strings.Contains(outputs["config show"], "PBXHA_DATABASE_DSN") {
		t.Errorf("config show: got\n%s\nwant redacted values and the environment overrides named", outputs["config show"])
	}
	for name, out := range outputs {
		for _, line := range strings.Split(out, "\n") {
			if m := secretMark.FindString(line); m != "" {
				t.Errorf("%s shows the secret %s:\n%s", name, m, line)
			}
		}
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", lastLines(outputs["daemon log"], 80))
	}
}
