package failover

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
)

var testKey = bytes.Repeat([]byte{0x5a}, MinKeySize)

func sampleHeartbeat() Heartbeat {
	return Heartbeat{
		Cluster:     "pbx-pair",
		Node:        "node-a",
		Boot:        BootID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Seq:         42,
		Epoch:       7,
		Sent:        time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		Role:        RolePrimary,
		Health:      probe.HealthDegraded,
		Probes:      ProbeSummary{OK: 3, Degraded: 1, Failing: []string{"sip-local"}},
		DB:          DBPrimary,
		WAL:         0x16B3748,
		Maintenance: false,
		Eligible:    true,
		Switchover:  SwitchoverRequest{Target: "node-b", ID: 99, Force: true},
		HeardBoot:   BootID{16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1},
		HeardSeq:    41,
		StepDown:    350 * time.Millisecond,
		Restarting:  true,
	}
}

func mustEncode(t testing.TB, h Heartbeat) []byte {
	t.Helper()
	b, err := Encode(testKey, h)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	full := sampleHeartbeat()
	minimal := Heartbeat{Cluster: "c", Node: "n", Seq: 1, Sent: time.Unix(0, 0)}
	maxed := sampleHeartbeat()
	maxed.Cluster, maxed.Node = strings.Repeat("c", MaxName), strings.Repeat("n", MaxName)
	maxed.Maintenance = true
	maxed.Probes.Failing = nil
	for range MaxFailing {
		maxed.Probes.Failing = append(maxed.Probes.Failing, strings.Repeat("p", MaxName))
	}
	maxed.Switchover.Target = strings.Repeat("t", MaxName)
	emptyTarget := sampleHeartbeat()
	emptyTarget.Switchover = SwitchoverRequest{ID: 5}
	for _, tc := range []struct {
		name string
		h    Heartbeat
	}{
		{"full", full},
		{"minimal", minimal},
		{"every field at its limit", maxed},
		{"switchover without target", emptyTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustEncode(t, tc.h)
			if len(b) > MaxPacket {
				t.Fatalf("got %d bytes, want at most MaxPacket %d", len(b), MaxPacket)
			}
			got, err := Decode(testKey, tc.h.Cluster, b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := tc.h
			want.Version = Version
			if !got.Sent.Equal(want.Sent) {
				t.Errorf("got sent %v, want %v", got.Sent, want.Sent)
			}
			got.Sent, want.Sent = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good := mustEncode(t, sampleHeartbeat())
	otherKey := bytes.Repeat([]byte{0xa5}, MinKeySize)
	foreign := sampleHeartbeat()
	foreign.Cluster = "other-pair"
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	resign := func(f func(b []byte) []byte) []byte {
		b := f(bytes.Clone(good[:len(good)-macSize]))
		return appendMAC(b, 0, testKey)
	}
	for _, tc := range []struct {
		name string
		key  []byte
		b    []byte
		want error
	}{
		{"empty", testKey, nil, ErrTruncated},
		{"header only", testKey, good[:headerSize-1], ErrTruncated},
		{"cut short", testKey, good[:len(good)-1], ErrTruncated},
		{"cut to header", testKey, good[:headerSize], ErrTruncated},
		{"trailing byte", testKey, append(bytes.Clone(good), 0), ErrMalformed},
		{"not a heartbeat", testKey, []byte("OPTIONS sip:x SIP/2.0\r\n"), ErrMalformed},
		{"future version", testKey, mod(func(b []byte) []byte { b[4] = Version + 1; return b }), ErrVersion},
		{"version 0", testKey, mod(func(b []byte) []byte { b[4] = 0; return b }), ErrVersion},
		{"declared length too small", testKey, mod(func(b []byte) []byte { b[5], b[6] = 0, 8; return b }), ErrMalformed},
		{"foreign cluster", testKey, mustEncode(t, foreign), ErrCluster},
		{"another key", otherKey, good, ErrBadMAC},
		{"short key", testKey[:16], good, ErrBadMAC},
		{"flipped mac bit", testKey, mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrBadMAC},
		{"flipped epoch bit", testKey, mod(func(b []byte) []byte { b[len(b)-macSize-30] ^= 1; return b }), ErrBadMAC},
		{"unknown flag, signed", testKey, resign(func(b []byte) []byte { b[headerSize+1+8+1+6+16+24+3] |= 0x80; return b }), ErrMalformed},
		{"epoch above MaxEpoch, signed", testKey, resign(func(b []byte) []byte { b[headerSize+1+8+1+6+16+8] = 0x40; b[headerSize+1+8+1+6+16+15] |= 1; return b }), ErrMalformed},
		{"role out of range, signed", testKey, resign(func(b []byte) []byte { b[headerSize+1+8+1+6+16+24] = 99; return b }), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Decode(tc.key, "pbx-pair", tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !reflect.DeepEqual(h, Heartbeat{}) {
				t.Errorf("got heartbeat %+v with the error, want the zero value", h)
			}
			if !strings.HasPrefix(err.Error(), "failover: decode heartbeat: ") {
				t.Errorf("got error %q, want the component prefix", err)
			}
		})
	}
}

func TestDecodeEverySingleByteChangeFails(t *testing.T) {
	good := mustEncode(t, sampleHeartbeat())
	for i := range good {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] ^= x
			if _, err := Decode(testKey, "pbx-pair", b); err == nil {
				t.Fatalf("byte %d xor %#x: got accepted, want an error", i, x)
			}
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(h *Heartbeat)
		want string
	}{
		{"empty cluster", func(h *Heartbeat) { h.Cluster = "" }, "cluster name is empty"},
		{"empty node", func(h *Heartbeat) { h.Node = "" }, "node name is empty"},
		{"long node", func(h *Heartbeat) { h.Node = strings.Repeat("x", MaxName+1) }, "want at most 64"},
		{"control character", func(h *Heartbeat) { h.Node = "a\nb" }, "non-printable"},
		{"invalid utf-8", func(h *Heartbeat) { h.Node = "\xff" }, "not UTF-8"},
		{"too many failing", func(h *Heartbeat) { h.Probes.Failing = make([]string, MaxFailing+1) }, "failing probe names"},
		{"role out of range", func(h *Heartbeat) { h.Role = 77 }, "role 77"},
		{"health out of range", func(h *Heartbeat) { h.Health = 9 }, "health 9"},
		{"db role out of range", func(h *Heartbeat) { h.DB = 9 }, "db role 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sampleHeartbeat()
			tc.edit(&h)
			_, err := Encode(testKey, h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Encode(testKey[:8], sampleHeartbeat()); err == nil {
		t.Errorf("got no error for an 8-byte key, want one")
	}
}

func TestSummarize(t *testing.T) {
	var states []probe.CheckState
	states = append(states,
		probe.CheckState{Name: "ok1", State: probe.OK},
		probe.CheckState{Name: "slow", State: probe.Degraded},
		probe.CheckState{Name: "pending", State: probe.Unknown},
	)
	for i := range 10 {
		states = append(states, probe.CheckState{Name: "opt" + string(rune('a'+i)), State: probe.Failed})
	}
	states = append(states, probe.CheckState{Name: "sip-" + strings.Repeat("é", 40), State: probe.Failed, Critical: true})
	s := Summarize(states)
	if s.OK != 1 || s.Degraded != 1 || s.Unknown != 1 || s.Failed != 11 {
		t.Errorf("got counts ok=%d degraded=%d unknown=%d failed=%d, want 1/1/1/11", s.OK, s.Degraded, s.Unknown, s.Failed)
	}
	if len(s.Failing) != MaxFailing {
		t.Fatalf("got %d failing names, want %d", len(s.Failing), MaxFailing)
	}
	if !strings.HasPrefix(s.Failing[0], "sip-") || len(s.Failing[0]) > MaxName {
		t.Errorf("got first failing %q (%d bytes), want the critical probe, at most %d bytes", s.Failing[0], len(s.Failing[0]), MaxName)
	}
	h := sampleHeartbeat()
	h.Probes = s
	if _, err := Encode(testKey, h); err != nil {
		t.Errorf("got %v encoding a Summarize result, want it to fit", err)
	}
}

func BenchmarkEncode(b *testing.B) {
	h := sampleHeartbeat()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(testKey, h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	p := mustEncode(b, sampleHeartbeat())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(testKey, "pbx-pair", p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVersion1 covers the mixed pair of an upgrade: a version 1 heartbeat
// decodes with the version 2 fields zero, a node writes version 1 when asked
// (without those fields), and version 1 knows no restarting flag.
func TestVersion1(t *testing.T) {
	h := sampleHeartbeat()
	h.Version = 1
	b := mustEncode(t, h)
	got, err := Decode(testKey, "pbx-pair", b)
	if err != nil {
		t.Fatalf("decode version 1: %v", err)
	}
	want := h
	want.HeardBoot, want.HeardSeq, want.StepDown, want.Restarting = BootID{}, 0, 0, false
	if !got.Sent.Equal(want.Sent) {
		t.Errorf("sent %s, want %s", got.Sent, want.Sent)
	}
	got.Sent = want.Sent
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if v2 := mustEncode(t, sampleHeartbeat()); len(v2) != len(b)+16+8+4 {
		t.Errorf("version 2 is %d bytes, version 1 %d: want 28 more", len(v2), len(b))
	}
	flags := headerSize + 1 + 8 + 1 + 6 + 16 + 24 + 3
	forged := bytes.Clone(b[:len(b)-macSize])
	forged[flags] |= flagRestarting
	if _, err := Decode(testKey, "pbx-pair", appendMAC(forged, 0, testKey)); !errors.Is(err, ErrMalformed) {
		t.Errorf("version 1 with the restarting flag: got %v, want %v", err, ErrMalformed)
	}
}

func TestProbeSummaryText(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    ProbeSummary
		want string
	}{
		{"no probes", ProbeSummary{}, "no probes"},
		{"all ok", ProbeSummary{OK: 3}, "3 ok"},
		{"one failed", ProbeSummary{OK: 2, Failed: 1, Failing: []string{"sip"}}, "2 ok, 1 failed: sip"},
		{"every state", ProbeSummary{OK: 1, Degraded: 1, Failed: 1, Unknown: 1, Failing: []string{"pg", "esl"}}, "1 ok, 1 degraded, 1 failed, 1 unknown: pg, esl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Text(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
