package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/sipcheck/siptest"
)

// RunSingle runs one sidecar (o.RunDaemon) against a test PBX that hangs
// and recovers, for o.Duration, and prints what it sees on w: the status
// every second, the daemon's logs and the final status table. It returns
// the daemon's error, or why the demo could not start.
func RunSingle(ctx context.Context, w io.Writer, o SingleOptions) error {
	duration := o.Duration
	pbx, err := siptest.Listen(siptest.Options{})
	if err != nil {
		return fmt.Errorf("demo: start test PBX: %w", err)
	}
	defer pbx.Close()

	cfg, err := configs.Parse(configs.EmbeddedSource, configs.Default())
	if err != nil {
		return fmt.Errorf("demo: embedded default config: %w", err)
	}
	dir, err := os.MkdirTemp("", "pbxha-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg.Node.Name = "demo"
	cfg.Control.Socket = filepath.Join(dir, "pbxha.sock")
	cfg.StateDir = dir
	for i := range cfg.Probes.SIP {
		cfg.Probes.SIP[i].Target = pbx.URI("udp")
	}

	// The daemon's logs and the demo's own lines share one stream.
	w = &lockedWriter{w: w}
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(w, "demo  %5.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	say("test PBX answering SIP OPTIONS on %s (udp, tcp)", pbx.Addr())
	for _, p := range cfg.Probes.SIP {
		say("sidecar probes %s every %s (timeout %s, rise %d, fall %d), embedded default config",
			p.Target, p.Interval, p.Timeout, p.Rise, p.Fall)
	}

	dctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- o.RunDaemon(dctx, w, cfg) }()

	client := control.NewClient(cfg.Control.Socket)
	hangAt, recoverAt := duration*3/10, duration*6/10
	hung, recovered := false, false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last control.Status
	for dctx.Err() == nil {
		select {
		case <-dctx.Done():
			continue
		case <-tick.C:
		}
		if el := time.Since(start); !hung && el >= hangAt {
			hung = true
			pbx.Hang()
			say("the test PBX hangs now: it stops answering SIP (process alive, service dead)")
		} else if !recovered && el >= recoverAt {
			recovered = true
			pbx.Answer(200, "OK")
			pbx.SetAccepting(true)
			say("the test PBX recovers: it answers SIP again")
		}
		qctx, qcancel := context.WithTimeout(dctx, time.Second)
		st, err := client.Status(qctx)
		qcancel()
		if err != nil {
			continue // the daemon is starting or stopping
		}
		last = st
		say("%s", statusLine(st))
	}
	if err := <-daemonDone; err != nil {
		return err
	}
	if last.Node != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "final status (what `pbxha status` prints):")
		o.WriteStatus(w, last)
	}
	return nil
}

// statusLine renders the status on one line for the demo's live view.
func statusLine(st control.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status: role %s, health %s", st.Role, st.Health)
	for _, p := range st.Probes {
		fmt.Fprintf(&b, "; %s %s", p.Name, p.State)
		if l := p.Last; l != nil {
			fmt.Fprintf(&b, " (last: %s", l.Status)
			if l.Detail != "" {
				fmt.Fprintf(&b, " %s", l.Detail)
			}
			fmt.Fprintf(&b, ", %.1fms, %d failing)", l.LatencyMS, p.ConsecutiveFailures)
		}
	}
	return b.String()
}
