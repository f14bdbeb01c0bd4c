package alert

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/testenv"
)

// TestHelperOutboxProcess is not a test: TestKilledWithOutbox runs the test
// binary as a child in this mode. The child queues three events for an
// endpoint that is down, prints their ids once each is in the outbox and a
// delivery has failed, then waits to be killed.
func TestHelperOutboxProcess(t *testing.T) {
	dir, url := os.Getenv("PBXHA_ALERT_HELPER_DIR"), os.Getenv("PBXHA_ALERT_HELPER_URL")
	if dir == "" {
		return
	}
	d, err := New(Config{Dir: dir, BackoffInitial: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		Endpoints: []Endpoint{{Name: "ops", URL: url}}}, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go d.Run(context.Background())
	var ids []string
	for i := range 3 {
		e := pub.Publish(event.Event{Kind: event.Failover, Severity: event.Critical, Summary: fmt.Sprintf("failover %d", i)})
		ids = append(ids, e.ID)
		d.Publish(e)
	}
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	for d.Status()[0].Failures == 0 || d.Status()[0].Queued != 3 {
		select {
		case <-deadline:
			fmt.Println("error no failed attempt within 20s")
			os.Exit(1)
		case <-tick.C:
		}
	}
	fmt.Println("queued", strings.Join(ids, " "))
	<-time.After(60 * time.Second) // the parent kills this process long before
	os.Exit(2)
}

func TestKilledWithOutbox(t *testing.T) {
	addr := testenv.FreeAddr(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOutboxProcess$")
	cmd.Env = append(os.Environ(), "PBXHA_ALERT_HELPER_DIR="+dir, "PBXHA_ALERT_HELPER_URL=http://"+addr+"/")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "queued ") || strings.HasPrefix(s.Text(), "error") {
				lines <- s.Text()
				return
			}
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("child did not report its queued events within 30s")
	}
	if !strings.HasPrefix(line, "queued ") {
		t.Fatalf("child: got %q, want queued ids", line)
	}
	want := strings.Fields(strings.TrimPrefix(line, "queued "))
	if err := cmd.Process.Kill(); err != nil { // SIGKILL by PID: no chance to flush anything
		t.Fatal(err)
	}
	_ = cmd.Wait()

	rcv := newReceiverOn(t, addr, nil)
	d := newDispatcher(t, Config{Dir: dir, Endpoints: []Endpoint{{Name: "ops", URL: "http://" + addr + "/"}}})
	run(t, d)
	testenv.WaitFor(t, 20*time.Second, "the killed process's events", func() bool { return len(rcv.accepted()) == 3 })
	if got := rcv.accepted(); !slices.Equal(got, want) {
		t.Errorf("delivered: got %v, want %v", got, want)
	}
}
