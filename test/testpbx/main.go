// Command testpbx runs the siptest SIP double as its own process, so tests
// can kill it, freeze it with SIGSTOP or restart it like a real PBX:
//
//	go run ./test/testpbx -listen 127.0.0.1:5060 -transport udp,tcp
//
// Once it listens it prints one line, "ready udp=HOST:PORT tcp=HOST:PORT",
// and then serves until SIGINT or SIGTERM.
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
	"syscall"

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
	listen := fs.String("listen", "127.0.0.1:5060", "host:port for UDP and TCP (port 0 picks a free one)")
	transports := fs.String("transport", "udp,tcp", "comma-separated transports: udp, tcp")
	code := fs.Int("code", 200, "status code to answer OPTIONS with")
	reason := fs.String("reason", "OK", "reason phrase of the answer")
	verbose := fs.Bool("v", false, "log sipgo's messages to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, portText, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("-listen: port %q: %w", portText, err)
	}
	opts := siptest.Options{Host: host, Port: port, Transports: strings.Split(*transports, ",")}
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
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Fprintln(stdout, "ready", strings.Join(parts, " "))
	<-sig
	return nil
}
