package siptest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
)

// KamailioModules is where Debian's kamailio package keeps its modules.
const KamailioModules = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

// kamailioConfig answers OPTIONS with 200 and anything else with 501, using
// only the sl module.
const kamailioConfig = `#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
listen=udp:%[1]s:%[2]d
listen=tcp:%[1]s:%[2]d
mpath="%[3]s/"
loadmodule "sl.so"
request_route {
	if (method=="OPTIONS") {
		sl_send_reply("200", "OK");
		exit;
	}
	sl_send_reply("501", "Not Implemented");
}
`

// Kamailio is a real kamailio process answering OPTIONS on loopback.
type Kamailio struct {
	Addr string // host:port, UDP and TCP
	PID  int    // the main process; its children share its process group

	stop func()
}

// Stop terminates kamailio's process group and waits for the main process.
// It is idempotent; the test's cleanup calls it too.
func (k *Kamailio) Stop() { k.stop() }

// URI returns the target URI for transport (udp or tcp).
func (k *Kamailio) URI(transport string) string { return "sip:" + k.Addr + ";transport=" + transport }

// StartKamailio runs /usr/sbin/kamailio in the foreground (-DD -E) with a
// generated minimal config on a free loopback port, waits until it answers
// OPTIONS on UDP and TCP, and stops its process group by PID when the test
// ends. Without kamailio the test skips, or fails under CI.
func StartKamailio(t testing.TB, ready func(uri string) error) *Kamailio {
	t.Helper()
	bin := testenv.LookPath(t, "kamailio", "/usr/sbin", "/usr/local/sbin")
	if _, err := os.Stat(filepath.Join(KamailioModules, "sl.so")); err != nil {
		testenv.Unavailable(t, "kamailio sl module missing at "+KamailioModules)
	}
	var lastErr error
	for range 5 { // a free port can be taken between probing and kamailio's bind
		k, err := startKamailio(t, bin, ready)
		if err == nil {
			return k
		}
		lastErr = err
	}
	t.Fatalf("siptest: kamailio did not start: %v", lastErr)
	return nil
}

func startKamailio(t testing.TB, bin string, ready func(uri string) error) (*Kamailio, error) {
	dir := t.TempDir()
	port, err := netlab.FreePort(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, kamailioConfig, "127.0.0.1", port, KamailioModules), 0o600); err != nil {
		return nil, err
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-DD", "-E", "-f", cfg, "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // children share the group; stopped together
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kamailio: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			pgid := cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-exited
			}
			// Children may outlive the main process for a moment.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		})
	}
	k := &Kamailio{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), PID: cmd.Process.Pid, stop: stop}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, tp := range []string{"udp", "tcp"} {
		for {
			err := ready(k.URI(tp))
			if err == nil {
				break
			}
			select {
			case <-exited:
				stop()
				return nil, fmt.Errorf("kamailio exited: %s", out.String())
			case <-ctx.Done():
				stop()
				return nil, fmt.Errorf("kamailio not answering on %s: %v; output: %s", tp, err, out.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	t.Cleanup(stop)
	return k, nil
}

// syncBuffer is a bytes.Buffer safe for a process's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
