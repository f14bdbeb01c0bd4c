// Command testpbx runs the siptest SIP double as its own process, so tests
// can kill it, freeze it with SIGSTOP or restart it like a real PBX:
//
//	go run ./test/testpbx -listen 127.0.0.1:5060 -transport udp,tcp
//
// It answers OPTIONS and takes calls: INVITE is answered at once (100, 180,
// 200 with SDP) and the dialog kept until its BYE. With -esl it also runs a
// FreeSWITCH event socket double, with -ami an Asterisk manager double,
// both reporting the calls up ("show calls count", CoreStatus,
// CoreShowChannels, "core show calls"), so that a drain sees them. A second
// -listen address (comma-separated) is served over UDP with the same
// calls: a PBX on its node's address and on the VIP.
//
// Once it listens it prints one line, "ready udp=HOST:PORT tcp=HOST:PORT"
// (then " esl=HOST:PORT" and " ami=HOST:PORT" when asked for), and then
// serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/ami/amitest"
	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/sipcheck/siptest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "testpbx:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("testpbx", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5060", "host:port for UDP and TCP (port 0 picks a free one); more comma-separated host:port are served over UDP too")
	transports := fs.String("transport", "udp,tcp", "comma-separated transports: udp, tcp")
	code := fs.Int("code", 200, "status code to answer OPTIONS with")
	reason := fs.String("reason", "OK", "reason phrase of the answer")
	verbose := fs.Bool("v", false, "log sipgo's messages to stderr")
	contact := fs.String("contact", "", "host:port in the Contact of answered calls (default: the first -listen address)")
	maxCall := fs.Duration("max-call", 0, "end a call this long after it was answered when no BYE came (0: never)")
	eslAddr := fs.String("esl", "", "host:port of a FreeSWITCH event socket double (password ClueCon); empty: none")
	amiAddr := fs.String("ami", "", "host:port of an Asterisk manager double (user pbxha, secret secret); empty: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addrs := strings.Split(*listen, ",")
	host, portText, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("-listen: port %q: %w", portText, err)
	}
	opts := siptest.Options{Host: host, Port: port, Transports: strings.Split(*transports, ","),
		AlsoUDP: addrs[1:], Contact: *contact, MaxCall: *maxCall}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts.Logger = logger
	// sipgo's package-level logger too (connection reference counting,
	// "ref went negative" on every closed connection).
	sipcheck.RouteLibraryLogs(logger)
	srv, err := siptest.Listen(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.Answer(*code, *reason)

	var parts []string
	for _, tp := range opts.Transports {
		parts = append(parts, tp+"="+srv.Addr())
	}
	if *eslAddr != "" {
		e, err := startESL(*eslAddr, srv)
		if err != nil {
			return err
		}
		defer e.Close()
		parts = append(parts, "esl="+e.Addr())
	}
	if *amiAddr != "" {
		a, err := amitest.Listen(*amiAddr, amitest.Options{Status: amitest.Status{Startup: time.Now(), Reload: time.Now()}})
		if err != nil {
			return err
		}
		defer a.Close()
		a.SetCalls(func() (int, int) { return srv.Calls(), srv.CallsProcessed() })
		parts = append(parts, "ami="+a.Addr())
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Fprintln(stdout, "ready", strings.Join(parts, " "))
	<-sig
	return nil
}

// startESL runs the event socket double on addr, answering status, sofia
// status, show calls count and show channels count from srv's calls (one
// channel per call: the double bridges nothing).
func startESL(addr string, srv *siptest.Server) (*esltest.Server, error) {
	e, err := esltest.Listen(addr, esltest.Options{})
	if err != nil {
		return nil, err
	}
	started := time.Now()
	var mu sync.Mutex
	peak := 0
	e.SetResponseFunc("status", func() string {
		n := srv.Calls()
		mu.Lock()
		peak = max(peak, n)
		p := peak
		mu.Unlock()
		return esltest.StatusBody(time.Since(started), n, p, srv.CallsProcessed())
	})
	e.SetResponseFunc("sofia status", func() string { return esltest.SofiaStatusBody(srv.Addr(), srv.Calls()) })
	count := func() string { return esltest.CountBody(srv.Calls()) }
	e.SetResponseFunc("show calls count", count)
	e.SetResponseFunc("show channels count", count)
	return e, nil
}
