package sipcheck

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// TestProvisionalInItsOwnSegment: a 100 Trying written on its own, well
// before the final reply, is skipped on every transport; on a stream the
// reader waits for the next segment instead of failing on the end of its
// buffer.
func TestProvisionalInItsOwnSegment(t *testing.T) {
	srv, ca := startDouble(t)
	srv.Answer(200, "OK")
	srv.Trying(150 * time.Millisecond)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newProber(t, cfgFor(srv, ca, m))
			r, _ := check(p, 3*time.Second)
			if r.Status != probe.OK || r.Code != 200 {
				t.Fatalf("got status=%s code=%d (%v), want ok 200", r.Status, r.Code, r.Err)
			}
			if r.Latency < 150*time.Millisecond {
				t.Errorf("got RTT %s, want at least the 150ms before the final reply", r.Latency)
			}
		})
	}
}

// TestForeignReplyRejected: a final reply with the request's Via branch but
// another transaction's Call-ID or CSeq number is not this check's answer,
// on every transport, the pooled TCP and TLS connections included: the
// check fails as a bad response, never as OK.
func TestForeignReplyRejected(t *testing.T) {
	srv, ca := startDouble(t)
	for _, header := range []string{"Call-ID", "CSeq"} {
		for _, m := range modes {
			t.Run(header+"/"+m.name, func(t *testing.T) {
				srv.Answer(200, "OK")
				srv.Mismatch(header)
				p := newProber(t, cfgFor(srv, ca, m))
				const timeout = 1500 * time.Millisecond
				r, took := check(p, timeout)
				if r.Status != probe.Failed || r.Class != probe.ClassBadResponse {
					t.Fatalf("got status=%s class=%q (%v), want failed %q", r.Status, r.Class, r.Err, probe.ClassBadResponse)
				}
				if r.Err == nil || !strings.Contains(r.Err.Error(), "not ours") {
					t.Errorf("got error %v, want it to say the reply is not ours", r.Err)
				}
				if took > timeout+500*time.Millisecond {
					t.Errorf("got check time %s, want at most the %s deadline", took, timeout)
				}
			})
		}
	}
}
