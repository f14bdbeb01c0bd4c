package probe

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A GTID position says which transactions a MariaDB or MySQL server holds.
// The heartbeat carries one 64-bit number per node (failover.Heartbeat.WAL),
// so the mysql probe maps a position to a transaction count that grows by
// one with every transaction the pair commits:
//
//   - MariaDB (domain-server-seq, e.g. "0-1-42,1-3-7"): the sum over the
//     domains of each domain's sequence number. A pair writes through one
//     primary at a time in one domain (gtid_domain_id is the same on both
//     servers), and a new primary continues that domain's sequence, so the
//     sum is that domain's sequence number and grows across failovers.
//   - MySQL (source_uuid:intervals, e.g. "3e11fa47-...:1-5:11-18"): the
//     number of transactions in the set, across every source UUID. Both
//     servers' sets only grow, and a replica's set is a subset of its
//     source's, so the difference of the counts is the number of
//     transactions the replica lacks.
//
// Limits: a transaction written on a replica outside replication (an errant
// transaction) counts as held although the source lacks it, and can hide
// as many missing ones; MariaDB servers writing in several domains at once
// (multi-source) sum the domains, which stays monotonic but no longer
// names one transaction. GTIDs must be on (gtid_mode=ON on MySQL; MariaDB
// always has them).

// MariaDBGTID is one MariaDB GTID: domain, server id, sequence number.
type MariaDBGTID struct {
	Domain, Server uint32
	Seq            uint64
}

// String renders the GTID as MariaDB writes it: "0-1-42".
func (g MariaDBGTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq) }

// ParseMariaDBGTIDList parses a comma-separated MariaDB GTID list
// (@@gtid_binlog_pos, @@gtid_slave_pos, Gtid_IO_Pos): at most one GTID per
// domain. Spaces and line breaks around the entries are ignored; an empty
// list is no GTID.
func ParseMariaDBGTIDList(s string) ([]MariaDBGTID, error) {
	var out []MariaDBGTID
	seen := map[uint32]bool{}
	for e := range strings.SplitSeq(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			if strings.TrimSpace(s) == "" {
				return nil, nil
			}
			return nil, fmt.Errorf("probe: gtid list %q: empty entry", s)
		}
		parts := strings.Split(e, "-")
		if len(parts) != 3 {
			return nil, fmt.Errorf("probe: gtid list %q: %q: want domain-server-seq", s, e)
		}
		d, err1 := strconv.ParseUint(parts[0], 10, 32)
		srv, err2 := strconv.ParseUint(parts[1], 10, 32)
		seq, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("probe: gtid list %q: %q: want three unsigned numbers", s, e)
		}
		if seen[uint32(d)] {
			return nil, fmt.Errorf("probe: gtid list %q: domain %d twice", s, d)
		}
		seen[uint32(d)] = true
		out = append(out, MariaDBGTID{Domain: uint32(d), Server: uint32(srv), Seq: seq})
	}
	return out, nil
}

// MariaDBPosition maps a MariaDB GTID list to its transaction count: the
// sum of the domains' sequence numbers (saturating).
func MariaDBPosition(list []MariaDBGTID) uint64 {
	var n uint64
	for _, g := range list {
		n = satAdd(n, g.Seq)
	}
	return n
}

// MaxMariaDBGTIDList is the per-domain newest of two lists (the higher
// sequence number wins): what a replica holds between the GTIDs it received
// and those it applied.
func MaxMariaDBGTIDList(a, b []MariaDBGTID) []MariaDBGTID {
	byDomain := map[uint32]MariaDBGTID{}
	for _, g := range slices.Concat(a, b) {
		if old, ok := byDomain[g.Domain]; !ok || g.Seq > old.Seq {
			byDomain[g.Domain] = g
		}
	}
	out := make([]MariaDBGTID, 0, len(byDomain))
	for _, g := range byDomain {
		out = append(out, g)
	}
	slices.SortFunc(out, func(x, y MariaDBGTID) int { return cmp.Compare(x.Domain, y.Domain) })
	return out
}

// GTIDInterval is a closed range of MySQL transaction numbers.
type GTIDInterval struct{ Lo, Hi uint64 }

// GTIDSet is a MySQL GTID set: per source (a server UUID, with ":tag" for
// MySQL 8.4's tagged GTIDs), sorted non-overlapping intervals.
type GTIDSet map[string][]GTIDInterval

// ParseGTIDSet parses a MySQL GTID set (@@gtid_executed,
// Retrieved_Gtid_Set): "uuid:1-5:11-18,uuid2:1-7", also with tags
// ("uuid:tag:1-3") and the line breaks MySQL puts after the commas.
func ParseGTIDSet(s string) (GTIDSet, error) {
	set := GTIDSet{}
	if strings.TrimSpace(s) == "" {
		return set, nil
	}
	for e := range strings.SplitSeq(s, ",") {
		e = strings.TrimSpace(e)
		parts := strings.Split(e, ":")
		if len(parts) < 2 || !isUUID(parts[0]) {
			return nil, fmt.Errorf("probe: gtid set %q: %q: want uuid:interval", s, e)
		}
		source := strings.ToLower(parts[0])
		for _, p := range parts[1:] {
			lo, hi, isRange := strings.Cut(p, "-")
			l, err := strconv.ParseUint(lo, 10, 64)
			if err != nil {
				if isRange || !isTag(p) {
					return nil, fmt.Errorf("probe: gtid set %q: %q: not an interval or a tag", s, p)
				}
				source = strings.ToLower(parts[0]) + ":" + strings.ToLower(p)
				continue
			}
			h := l
			if isRange {
				if h, err = strconv.ParseUint(hi, 10, 64); err != nil {
					return nil, fmt.Errorf("probe: gtid set %q: %q: not an interval", s, p)
				}
			}
			if l == 0 || h < l {
				return nil, fmt.Errorf("probe: gtid set %q: %q: want 1 <= start <= end", s, p)
			}
			set[source] = append(set[source], GTIDInterval{l, h})
		}
	}
	for k, iv := range set {
		set[k] = mergeIntervals(iv)
	}
	return set, nil
}

// Count is the number of transactions in the set (saturating).
func (s GTIDSet) Count() uint64 {
	var n uint64
	for _, iv := range s {
		for _, i := range iv {
			n = satAdd(n, i.Hi-i.Lo)
			n = satAdd(n, 1)
		}
	}
	return n
}

// Union returns the transactions in s or o.
func (s GTIDSet) Union(o GTIDSet) GTIDSet {
	out := GTIDSet{}
	for _, x := range []GTIDSet{s, o} {
		for k, iv := range x {
			out[k] = append(out[k], iv...)
		}
	}
	for k, iv := range out {
		out[k] = mergeIntervals(iv)
	}
	return out
}

// String renders the set with sources in order: "uuid:1-5:11-18,uuid2:1".
func (s GTIDSet) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		for _, iv := range s[k] {
			if iv.Lo == iv.Hi {
				fmt.Fprintf(&b, ":%d", iv.Lo)
			} else {
				fmt.Fprintf(&b, ":%d-%d", iv.Lo, iv.Hi)
			}
		}
	}
	return b.String()
}

// mergeIntervals sorts iv and joins overlapping or adjacent intervals.
func mergeIntervals(iv []GTIDInterval) []GTIDInterval {
	iv = slices.Clone(iv)
	slices.SortFunc(iv, func(a, b GTIDInterval) int { return cmp.Compare(a.Lo, b.Lo) })
	var out []GTIDInterval
	for _, i := range iv {
		if n := len(out); n > 0 && (out[n-1].Hi == ^uint64(0) || i.Lo <= out[n-1].Hi+1) {
			out[n-1].Hi = max(out[n-1].Hi, i.Hi)
			continue
		}
		out = append(out, i)
	}
	return out
}

// isUUID reports whether s is a server UUID: 32 hex digits in 8-4-4-4-12.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// isTag reports whether s is a MySQL GTID tag: a letter or "_", then up to
// 31 letters, digits or "_".
func isTag(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i, c := range s {
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// satAdd adds without wrapping.
func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}
