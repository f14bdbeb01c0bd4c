package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"

	vnetns "github.com/vishvananda/netns"
)

// dialIn returns a pgx dial function that opens its sockets inside the
// network namespace ns: the socket is created on an OS thread switched into
// the namespace, and stays there once the thread switches back.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		done := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			conn, err := dialOnThread(ctx, ns, network, addr)
			if !errors.Is(err, errStuck) {
				runtime.UnlockOSThread()
			}
			// A thread stuck in the namespace stays locked: the runtime
			// discards it when this goroutine ends.
			done <- result{conn, err}
		}()
		r := <-done
		return r.conn, r.err
	}
}

// errStuck: the thread could not return to its own namespace.
var errStuck = errors.New("thread left in the namespace")

// dialOnThread dials from inside ns on the calling goroutine's locked
// thread and switches the thread back.
func dialOnThread(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	orig, err := vnetns.Get()
	if err != nil {
		return nil, fmt.Errorf("pgtest: dial %s in %s: current namespace: %w", addr, ns, err)
	}
	defer orig.Close()
	target, err := vnetns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("pgtest: dial %s in %s: %w", addr, ns, err)
	}
	defer target.Close()
	if err := vnetns.Set(target); err != nil {
		return nil, fmt.Errorf("pgtest: dial %s in %s: enter: %w", addr, ns, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if serr := vnetns.Set(orig); serr != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("pgtest: dial %s in %s: leave: %w: %w", addr, ns, errStuck, serr)
	}
	return conn, err
}
