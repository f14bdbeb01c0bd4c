package sipcheck

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck/siptest"
)

// kamailioReady is the readiness check StartKamailio polls with.
func kamailioReady(uri string) error {
	p, err := New(Config{Target: uri, FreshConnection: true}, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r := p.Check(ctx); r.Status != probe.OK {
		return fmt.Errorf("%s: %v", r.Status, r.Err)
	}
	return nil
}

// TestKamailio probes a real, independently written SIP server.
func TestKamailio(t *testing.T) {
	k := siptest.StartKamailio(t, kamailioReady)
	for _, m := range modes {
		if m.transport == "tls" {
			continue // the minimal config has no TLS module
		}
		t.Run(m.name, func(t *testing.T) {
			p := newProber(t, Config{Target: k.URI(m.transport), FreshConnection: m.fresh})
			for i := range 3 {
				r, _ := check(p, 2*time.Second)
				if r.Status != probe.OK || r.Code != 200 || r.Detail != "200 OK" {
					t.Fatalf("check %d: got %s %q (%v), want ok 200 OK", i, r.Status, r.Detail, r.Err)
				}
			}
			rep, err := p.Options(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Server == "" {
				t.Errorf("got no Server header, want kamailio's")
			}
		})
	}
	// A dead PBX on UDP: the kernel's port-unreachable makes it refused,
	// at once.
	p := newProber(t, Config{Target: k.URI("udp")})
	k.Stop()
	r, took := check(p, 5*time.Second)
	if r.Status != probe.Failed || r.Class != probe.ClassRefused || took > time.Second {
		t.Errorf("after kamailio stopped: got %s/%q in %s (%v), want failed/refused within 1s", r.Status, r.Class, took, r.Err)
	}
}
