package testenv

import (
	"net"
	"testing"
)

// ServeAccepts accepts connections on ln and closes each at once — what a
// gateway a tie-breaker check reaches does — until the test ends, when ln is
// closed.
func ServeAccepts(t testing.TB, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// TieBreaker listens on a free loopback TCP port with ServeAccepts and
// returns its address: a tie-breaker target that answers until the test
// ends.
func TieBreaker(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ServeAccepts(t, ln)
	return ln.Addr().String()
}
