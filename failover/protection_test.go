package failover

import (
	"testing"

	"github.com/pbxha/pbxha/probe"
)

// TestProtection walks Protection's causes in their order of precedence:
// each case breaks one thing a protected pair needs.
func TestProtection(t *testing.T) {
	protected := func() Observation {
		return Observation{
			Now: decideT0, Role: RolePrimary, DB: DBPrimary, WAL: 5000, TieBreakerOK: true, TieBreakerAt: decideT0,
			Peer: PeerView{Alive: true, Role: RoleStandby, Health: probe.Healthy, Eligible: true, DB: DBStandby, WAL: 4000},
		}
	}
	policy := Policy{MaxLagBytes: 2000}
	for _, tc := range []struct {
		name   string
		change func(*Observation, *Policy)
		want   string
	}{
		{"protected", func(*Observation, *Policy) {}, ""},
		{"a standby is never unprotected", func(o *Observation, _ *Policy) { o.Role, o.Peer.Alive = RoleStandby, false }, ""},
		{"peer unheard", func(o *Observation, _ *Policy) { o.Peer.Alive = false; o.TieBreakerOK = false }, UnprotectedPeerUnheard},
		{"peer in maintenance", func(o *Observation, _ *Policy) { o.Peer.Maintenance = true }, UnprotectedPeerMaintenance},
		{"peer not eligible", func(o *Observation, _ *Policy) { o.Peer.Eligible = false }, UnprotectedPeerIneligible},
		{"peer failed", func(o *Observation, _ *Policy) { o.Peer.Health = probe.HealthFailed }, UnprotectedPeerIneligible},
		{"peer degraded still serves", func(o *Observation, _ *Policy) { o.Peer.Health = probe.HealthDegraded }, ""},
		{"no streaming standby", func(o *Observation, _ *Policy) { o.NoStreamingStandby = true }, UnprotectedNoStreaming},
		{"no streaming without a database", func(o *Observation, _ *Policy) {
			o.NoStreamingStandby, o.DB, o.Peer.DB = true, DBNone, DBNone
		}, ""},
		{"standby beyond max_lag_bytes", func(o *Observation, _ *Policy) { o.Peer.WAL = 1000 }, UnprotectedLag},
		{"lag allowed by policy", func(o *Observation, p *Policy) { o.Peer.WAL, p.AllowLagPromote = 1000, true }, ""},
		{"lag at the limit", func(o *Observation, _ *Policy) { o.Peer.WAL = 3000 }, ""},
		{"no tie-breaker", func(o *Observation, _ *Policy) { o.TieBreakerOK = false }, UnprotectedNoTieBreaker},
		{"the first cause wins", func(o *Observation, _ *Policy) { o.Peer.Maintenance, o.TieBreakerOK = true, false }, UnprotectedPeerMaintenance},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, p := protected(), policy
			tc.change(&o, &p)
			cause, why := Protection(o, p)
			if cause != tc.want {
				t.Fatalf("Protection: got cause %q (%q), want %q", cause, why, tc.want)
			}
			if (cause == "") != (why == "") {
				t.Errorf("Protection: cause %q with reason %q: want both or neither", cause, why)
			}
		})
	}
}
