package linkwatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/pbxha/pbxha/linkwatch"
	"github.com/pbxha/pbxha/test/netns"
)

// TestWatch cuts and restores a host's link in a throwaway namespace and
// checks each change is reported at once; an interface that does not exist
// counts as down.
func TestWatch(t *testing.T) {
	topo := netns.New(t, netns.Options{Hosts: []string{"a", "b"}})
	a := topo.Host("a")
	changes := make(chan string, 8)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go a.Do(func() error { return linkwatch.Watch(ctx, []string{"eth0"}, func(down string) { changes <- down }) })
	next := func(what, want string) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want {
				t.Fatalf("%s: got down %q, want %q", what, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no report within 5s", what)
		}
	}
	next("at start", "")
	if err := a.LinkDown(); err != nil {
		t.Fatal(err)
	}
	next("the switch port down", "eth0")
	if err := a.LinkUp(); err != nil {
		t.Fatal(err)
	}
	next("the switch port up", "")

	missing := make(chan string, 1)
	go a.Do(func() error {
		return linkwatch.Watch(ctx, []string{"eth0", "nosuch0"}, func(down string) { missing <- down })
	})
	select {
	case got := <-missing:
		if got != "nosuch0" {
			t.Fatalf("with a missing interface: got %q, want nosuch0", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no report for a missing interface")
	}
}
