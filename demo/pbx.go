package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/sipcheck/siptest"
)

// ServeTestPBX is the demo's test PBX as its own process (`pbxha demo
// test-pbx`), so that the demo can hang it with SIGSTOP like a real PBX,
// and run it inside a network namespace. It answers SIP OPTIONS over UDP on
// every address in listen, prints "ready udp=HOST:PORT..." to w once it
// listens, and serves until ctx ends.
func ServeTestPBX(ctx context.Context, w io.Writer, listen []HostPort) error {
	sipcheck.RouteLibraryLogs(slog.New(slog.DiscardHandler))
	var ready []string
	for _, l := range listen {
		srv, err := siptest.Listen(siptest.Options{Host: l.Host, Port: l.Port, Transports: []string{"udp"}})
		if err != nil {
			return fmt.Errorf("test-pbx: listen %s: %w", net.JoinHostPort(l.Host, strconv.Itoa(l.Port)), err)
		}
		defer srv.Close()
		ready = append(ready, "udp="+srv.Addr())
	}
	fmt.Fprintln(w, "ready", strings.Join(ready, " "))
	<-ctx.Done()
	return nil
}
