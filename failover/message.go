package failover

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pbxha/pbxha/probe"
)

// Wire format constants. See docs/pair.md (Heartbeats, Wire format) for the layout.
const (
	// Version is the newest heartbeat format this build writes; it reads
	// every version from MinVersion. Version 2 adds what the sender last
	// heard from its peer (HeardBoot, HeardSeq), its step-down budget and
	// the restarting flag. A node writes the version its peer last wrote
	// (at most Version), so that a pair of mixed builds keeps talking
	// while it is upgraded one node at a time.
	Version = 2
	// MinVersion is the oldest heartbeat format this build reads.
	MinVersion = 1
	// MaxPacket is the largest heartbeat Encode produces; receivers read
	// datagrams into a buffer one byte larger to notice oversize ones.
	MaxPacket = 1024
	// MaxName is the longest cluster, node or probe name carried, in bytes.
	MaxName = 64
	// MaxFailing is how many failing probe names a heartbeat carries.
	MaxFailing = 8

	macSize    = sha256.Size
	headerSize = 7 // magic, version, total length
)

// magic starts every heartbeat.
var magic = [4]byte{'P', 'B', 'H', 'A'}

// flag bits of the flags byte.
const (
	flagMaintenance = 1 << iota
	flagEligible
	flagSwitchover
	flagForce
	flagRestarting // version 2
	flagsKnownV1   = flagMaintenance | flagEligible | flagSwitchover | flagForce
	flagsKnown     = flagsKnownV1 | flagRestarting
)

// BootID identifies one run of a sidecar; it is random per process start.
type BootID [16]byte

// NewBootID returns a random boot id.
func NewBootID() BootID {
	var b BootID
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return b
}

// String returns the id in hex.
func (b BootID) String() string { return hex.EncodeToString(b[:]) }

// ProbeSummary is the sender's probe verdicts in brief: counts by settled
// state and the names of up to MaxFailing probes that are not ok.
type ProbeSummary struct {
	OK, Degraded, Failed, Unknown uint8    // counts, saturating at 255
	Failing                       []string // names of probes not ok, at most MaxFailing
}

// equal reports whether s and o say the same.
func (s ProbeSummary) equal(o ProbeSummary) bool {
	return s.OK == o.OK && s.Degraded == o.Degraded && s.Failed == o.Failed && s.Unknown == o.Unknown &&
		slices.Equal(s.Failing, o.Failing)
}

// Text renders the counts for status: "3 ok", "2 ok, 1 failed: sip",
// "no probes".
func (s ProbeSummary) Text() string {
	var parts []string
	for _, c := range []struct {
		n    uint8
		what string
	}{{s.OK, "ok"}, {s.Degraded, "degraded"}, {s.Failed, "failed"}, {s.Unknown, "unknown"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if len(parts) == 0 {
		return "no probes"
	}
	out := strings.Join(parts, ", ")
	if len(s.Failing) > 0 {
		out += ": " + strings.Join(s.Failing, ", ")
	}
	return out
}

// Summarize builds a ProbeSummary from settled probe states, truncating names
// longer than MaxName and keeping the first MaxFailing failing ones (critical
// failures first).
func Summarize(states []probe.CheckState) ProbeSummary {
	var s ProbeSummary
	inc := func(n *uint8) {
		if *n < 255 {
			*n++
		}
	}
	var crit, other []string
	for _, st := range states {
		switch st.State {
		case probe.OK:
			inc(&s.OK)
			continue
		case probe.Degraded:
			inc(&s.Degraded)
		case probe.Failed:
			inc(&s.Failed)
		default:
			inc(&s.Unknown)
		}
		name := truncName(st.Name)
		if st.Critical && st.State == probe.Failed {
			crit = append(crit, name)
		} else {
			other = append(other, name)
		}
	}
	for _, n := range append(crit, other...) {
		if len(s.Failing) == MaxFailing {
			break
		}
		s.Failing = append(s.Failing, n)
	}
	return s
}

// truncName cuts a name to MaxName bytes on a rune boundary.
func truncName(s string) string {
	if len(s) <= MaxName {
		return s
	}
	s = s[:MaxName]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// SwitchoverRequest asks for a planned move of the primary role. The zero
// value means no request.
type SwitchoverRequest struct {
	Target string // node that should become primary; "" means the node that is not primary now
	ID     uint64 // request id, non-zero; lets both sides tell requests apart
	Force  bool   // promote even past max_lag_bytes
}

// Active reports whether r is a request (ID non-zero).
func (r SwitchoverRequest) Active() bool { return r.ID != 0 }

// Heartbeat is one message of the peer link. Every field is authenticated.
type Heartbeat struct {
	Version     uint8             // set by Decode; Encode always writes Version
	Cluster     string            // pair name, 1..MaxName bytes
	Node        string            // sender's node name, 1..MaxName bytes
	Boot        BootID            // random per sender process start
	Seq         uint64            // monotonic per boot, starting at 1
	Epoch       uint64            // sender's persisted epoch
	Sent        time.Time         // sender's clock when sent (nanosecond precision)
	Role        Role              // sender's role
	Health      probe.Health      // sender's aggregated health
	Probes      ProbeSummary      // sender's probe verdicts
	DB          DBRole            // sender's database role
	WAL         uint64            // primary: current WAL LSN; standby: replayed LSN
	Maintenance bool              // maintenance mode is on at the sender
	Eligible    bool              // the sender could take over now (see Decision.Eligible)
	Switchover  SwitchoverRequest // an operator's planned switchover, if any

	// Version 2. HeardBoot and HeardSeq name the newest heartbeat the
	// sender accepted from its peer (zero: none yet): the peer learns when
	// it was last heard, so that a primary knows when its standby stopped
	// hearing it (an isolation or a one-way cut) before the standby acts
	// on it.
	HeardBoot BootID
	HeardSeq  uint64
	// StepDown is how long the sender, as primary, takes at most to step
	// down (its database stops taking writes and the VIP goes); a standby
	// waits that long beyond isolation_after before it takes over from a
	// silent primary. Whole milliseconds on the wire.
	StepDown time.Duration
	// Restarting: the sender's sidecar is restarting (an upgrade) and will
	// be back with the same role; its peer holds off a takeover meanwhile.
	Restarting bool
}

// Encode returns the heartbeat in wire form, version h.Version (Version
// when zero), authenticated with key. It fails on a field that does not fit
// the format (names too long or empty, too many failing probes, an
// out-of-range enum or version, a key shorter than MinKeySize). Version 1
// leaves out the fields it lacks.
func Encode(key []byte, h Heartbeat) ([]byte, error) {
	return AppendEncode(make([]byte, 0, 256), key, h)
}

// AppendEncode is Encode appending to dst: with a dst of enough capacity
// (256 bytes hold any heartbeat without failing probe names), it allocates
// nothing.
func AppendEncode(dst, key []byte, h Heartbeat) ([]byte, error) {
	if h.Version == 0 {
		h.Version = Version
	}
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("failover: encode heartbeat %s/%s: %w", h.Cluster, h.Node, err)
	}
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("failover: encode heartbeat %s/%s: key is %d bytes, want at least %d", h.Cluster, h.Node, len(key), MinKeySize)
	}
	start := len(dst)
	b := append(dst, magic[:]...)
	b = append(b, h.Version, 0, 0)
	b = appendName(b, h.Cluster)
	b = appendName(b, h.Node)
	b = append(b, h.Boot[:]...)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, h.Epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Sent.UnixNano()))
	var flags byte
	if h.Maintenance {
		flags |= flagMaintenance
	}
	if h.Eligible {
		flags |= flagEligible
	}
	if h.Switchover.Active() {
		flags |= flagSwitchover
		if h.Switchover.Force {
			flags |= flagForce
		}
	}
	if h.Restarting && h.Version >= 2 {
		flags |= flagRestarting
	}
	b = append(b, byte(h.Role), byte(h.Health), byte(h.DB), flags)
	b = binary.BigEndian.AppendUint64(b, h.WAL)
	p := h.Probes
	b = append(b, p.OK, p.Degraded, p.Failed, p.Unknown, byte(len(p.Failing)))
	for _, n := range p.Failing {
		b = appendName(b, n)
	}
	if h.Switchover.Active() {
		b = appendName(b, h.Switchover.Target)
		b = binary.BigEndian.AppendUint64(b, h.Switchover.ID)
	}
	if h.Version >= 2 {
		b = append(b, h.HeardBoot[:]...)
		b = binary.BigEndian.AppendUint64(b, h.HeardSeq)
		b = binary.BigEndian.AppendUint32(b, uint32(min(h.StepDown.Milliseconds(), math.MaxUint32)))
	}
	binary.BigEndian.PutUint16(b[start+5:start+7], uint16(len(b)-start+macSize))
	return appendMAC(b, start, key), nil
}

func appendName(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// appendMAC appends the MAC of b[start:] under key.
func appendMAC(b []byte, start int, key []byte) []byte {
	m := getMAC(key)
	defer macs.Put(m)
	m.h.Write(b[start:])
	return m.h.Sum(b)
}

// macState is a reusable HMAC-SHA256 of one key: hmac.New allocates its
// digests on every call, and a node computes a MAC for every heartbeat it
// sends, admits and receives.
type macState struct {
	key []byte
	h   hash.Hash
	sum [sha256.Size]byte
}

var macs sync.Pool // *macState

// getMAC returns a reset HMAC of key from the pool (one of another key is
// made anew); put it back with macs.Put.
func getMAC(key []byte) *macState {
	m, _ := macs.Get().(*macState)
	if m == nil || !bytes.Equal(m.key, key) {
		m = &macState{key: bytes.Clone(key), h: hmac.New(sha256.New, key)}
		return m
	}
	m.h.Reset()
	return m
}

// validate checks what the wire format can carry.
func (h Heartbeat) validate() error {
	if h.Version < MinVersion || h.Version > Version {
		return fmt.Errorf("version %d out of range %d..%d", h.Version, MinVersion, Version)
	}
	if h.StepDown < 0 {
		return fmt.Errorf("step-down budget %s is negative", h.StepDown)
	}
	if h.Epoch > MaxEpoch {
		// No pair reaches it, and a standby that adopted it could not
		// persist it (SaveEpoch refuses it): its next takeover would wrap.
		return fmt.Errorf("epoch %d above the largest, %d", h.Epoch, uint64(MaxEpoch))
	}
	if err := checkName("cluster", h.Cluster, false); err != nil {
		return err
	}
	if err := checkName("node", h.Node, false); err != nil {
		return err
	}
	if h.Role >= roleCount {
		return fmt.Errorf("role %d out of range", h.Role)
	}
	if h.Health < probe.HealthUnknown || h.Health > probe.HealthFailed {
		return fmt.Errorf("health %d out of range", h.Health)
	}
	if h.DB >= dbRoleCount {
		return fmt.Errorf("db role %d out of range", h.DB)
	}
	if len(h.Probes.Failing) > MaxFailing {
		return fmt.Errorf("%d failing probe names, want at most %d", len(h.Probes.Failing), MaxFailing)
	}
	for _, n := range h.Probes.Failing {
		if err := checkName("probe", n, false); err != nil {
			return err
		}
	}
	if h.Switchover.Active() {
		if err := checkName("switchover target", h.Switchover.Target, true); err != nil {
			return err
		}
	}
	return nil
}

// checkName accepts 1..MaxName bytes of printable UTF-8 (or empty when
// allowed).
func checkName(what, s string, emptyOK bool) error {
	if s == "" && !emptyOK {
		return fmt.Errorf("%s name is empty", what)
	}
	if len(s) > MaxName {
		return fmt.Errorf("%s name %q is %d bytes, want at most %d", what, s, len(s), MaxName)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s name %q is not UTF-8", what, s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%s name %q has a non-printable character", what, s)
		}
	}
	return nil
}

// Decode authenticates and parses one heartbeat of cluster. It never panics;
// every error wraps one of ErrTruncated, ErrBadMAC, ErrVersion, ErrCluster or
// ErrMalformed. Anything Decode accepts re-encodes to the same bytes.
//
// The cluster name is compared before the MAC so that heartbeats of another
// pair on the same network are counted as foreign rather than forged.
func Decode(key []byte, cluster string, b []byte) (Heartbeat, error) {
	return decodeKnown(key, cluster, b, "")
}

// decodeKnown is Decode for a receiver that knows its peer's node name: a
// heartbeat naming it (and the cluster) allocates nothing for the names.
func decodeKnown(key []byte, cluster string, b []byte, node string) (Heartbeat, error) {
	h, err := decode(key, cluster, b, node)
	if err != nil {
		return Heartbeat{}, fmt.Errorf("failover: decode heartbeat: %w", err)
	}
	return h, nil
}

func decode(key []byte, cluster string, b []byte, node string) (Heartbeat, error) {
	if len(b) < headerSize {
		return Heartbeat{}, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
	}
	if [4]byte(b[:4]) != magic {
		return Heartbeat{}, fmt.Errorf("%w: bad magic %x", ErrMalformed, b[:4])
	}
	if b[4] < MinVersion || b[4] > Version {
		return Heartbeat{}, fmt.Errorf("%w: %d, want %d to %d", ErrVersion, b[4], MinVersion, Version)
	}
	total := int(binary.BigEndian.Uint16(b[5:7]))
	switch {
	case total < headerSize+macSize:
		return Heartbeat{}, fmt.Errorf("%w: declared length %d", ErrMalformed, total)
	case len(b) < total:
		return Heartbeat{}, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, len(b), total)
	case len(b) > total:
		return Heartbeat{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b)-total)
	}
	body := b[:total-macSize]
	r := reader{b: body, off: headerSize}
	h := Heartbeat{Version: b[4]}
	h.Cluster = r.known(cluster)
	if r.err != nil {
		return Heartbeat{}, r.err
	}
	if h.Cluster != cluster {
		return Heartbeat{}, fmt.Errorf("%w: %q", ErrCluster, h.Cluster)
	}
	if len(key) < MinKeySize {
		return Heartbeat{}, fmt.Errorf("%w: key is %d bytes, want at least %d", ErrBadMAC, len(key), MinKeySize)
	}
	m := getMAC(key)
	m.h.Write(body)
	ok := hmac.Equal(m.h.Sum(m.sum[:0]), b[total-macSize:total])
	macs.Put(m)
	if !ok {
		return Heartbeat{}, ErrBadMAC
	}
	h.Node = r.known(node)
	copy(h.Boot[:], r.bytes(len(h.Boot)))
	h.Seq = r.u64()
	h.Epoch = r.u64()
	h.Sent = time.Unix(0, int64(r.u64()))
	fixed := r.bytes(4)
	h.WAL = r.u64()
	counts := r.bytes(5)
	if r.err != nil {
		return Heartbeat{}, r.err
	}
	h.Role, h.Health, h.DB = Role(fixed[0]), probe.Health(fixed[1]), DBRole(fixed[2])
	flags := fixed[3]
	h.Maintenance = flags&flagMaintenance != 0
	h.Eligible = flags&flagEligible != 0
	h.Probes.OK, h.Probes.Degraded, h.Probes.Failed, h.Probes.Unknown = counts[0], counts[1], counts[2], counts[3]
	if n := int(counts[4]); n > 0 {
		if n > MaxFailing {
			return Heartbeat{}, fmt.Errorf("%w: %d failing probe names", ErrMalformed, n)
		}
		h.Probes.Failing = make([]string, n)
		for i := range h.Probes.Failing {
			h.Probes.Failing[i] = r.name()
		}
	}
	if flags&flagSwitchover != 0 {
		h.Switchover.Target = r.name()
		h.Switchover.ID = r.u64()
		h.Switchover.Force = flags&flagForce != 0
	}
	known := byte(flagsKnownV1)
	if h.Version >= 2 {
		known = flagsKnown
		copy(h.HeardBoot[:], r.bytes(len(h.HeardBoot)))
		h.HeardSeq = r.u64()
		h.StepDown = time.Duration(binary.BigEndian.Uint32(r.bytes(4))) * time.Millisecond
		h.Restarting = flags&flagRestarting != 0
	}
	switch {
	case r.err != nil:
		return Heartbeat{}, r.err
	case r.off != len(body):
		return Heartbeat{}, fmt.Errorf("%w: %d unparsed bytes", ErrMalformed, len(body)-r.off)
	case flags&^known != 0:
		return Heartbeat{}, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags)
	case flags&flagForce != 0 && flags&flagSwitchover == 0:
		return Heartbeat{}, fmt.Errorf("%w: force flag without a switchover", ErrMalformed)
	case h.Switchover.Active() != (flags&flagSwitchover != 0):
		return Heartbeat{}, fmt.Errorf("%w: switchover with id 0", ErrMalformed)
	}
	if err := h.validate(); err != nil {
		return Heartbeat{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return h, nil
}

// reader walks a heartbeat body; the first short read sets err and every
// later read returns zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return make([]byte, n)
	}
	if len(r.b)-r.off < n {
		r.err = fmt.Errorf("%w: field at offset %d overruns the body", ErrMalformed, r.off)
		return make([]byte, n)
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.bytes(8)) }

func (r *reader) name() string {
	n := r.bytes(1)[0]
	return string(r.bytes(int(n)))
}

// known reads a name, returning s itself, not a copy, when the name is s.
func (r *reader) known(s string) string {
	n := r.bytes(1)[0]
	b := r.bytes(int(n))
	if string(b) == s {
		return s
	}
	return string(b)
}
