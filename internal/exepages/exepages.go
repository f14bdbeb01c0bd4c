// Package exepages gives back the resident pages of the executable's own
// code and read-only data once start-up is over, so that the resident set
// counts what the process keeps using instead of everything start-up
// touched once (package initialisation, config parsing, the drivers of
// resources this node does not use).
//
// The pages stay in the page cache: what the process touches again comes
// back with a minor fault, with the same content, since a private mapping
// that was never written is the file itself. Mappings that were written
// (copy-on-write pages), writable mappings and other files are left alone.
package exepages

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
)

// Mapping is one mapping of /proc/PID/smaps: its address range, its
// permissions ("r-xp"), the device and inode of the file behind it, and
// its resident and anonymous (copied on write) sizes in KiB.
type Mapping struct {
	Start, End   uint64
	Perms        string
	Dev          string
	Inode        uint64
	Path         string
	RssKiB       int64
	AnonymousKiB int64
}

// ParseSmaps reads the mappings of a /proc/PID/smaps text. A line it does
// not understand is an error naming the line: the format is the kernel's.
func ParseSmaps(r io.Reader) ([]Mapping, error) {
	var ms []Mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.HasSuffix(f[0], ":") {
			// "Key:   value kB" of the mapping above; VmFlags has no unit.
			if len(ms) == 0 {
				return nil, fmt.Errorf("exepages: smaps line %d: %q before any mapping", n, line)
			}
			m := &ms[len(ms)-1]
			switch f[0] {
			case "Rss:", "Anonymous:":
				if len(f) != 3 || f[2] != "kB" {
					return nil, fmt.Errorf("exepages: smaps line %d: %q: want \"%s N kB\"", n, line, f[0])
				}
				v, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil || v < 0 {
					return nil, fmt.Errorf("exepages: smaps line %d: %q: bad size", n, line)
				}
				if f[0] == "Rss:" {
					m.RssKiB = v
				} else {
					m.AnonymousKiB = v
				}
			}
			continue
		}
		m, err := parseHeader(f)
		if err != nil {
			return nil, fmt.Errorf("exepages: smaps line %d: %q: %w", n, line, err)
		}
		ms = append(ms, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("exepages: read smaps: %w", err)
	}
	return ms, nil
}

// parseHeader parses "start-end perms offset dev inode [path]".
func parseHeader(f []string) (Mapping, error) {
	if len(f) < 5 {
		return Mapping{}, errors.New("want start-end perms offset dev inode [path]")
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return Mapping{}, errors.New("bad address range")
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end < start {
		return Mapping{}, errors.New("bad address range")
	}
	if len(f[1]) != 4 {
		return Mapping{}, errors.New("bad permissions")
	}
	inode, err := strconv.ParseUint(f[4], 10, 64)
	if err != nil {
		return Mapping{}, errors.New("bad inode")
	}
	return Mapping{Start: start, End: end, Perms: f[1], Dev: f[3], Inode: inode,
		Path: strings.Join(f[5:], " ")}, nil
}

// Releasable picks the mappings of the file dev/inode that can be given
// back without changing what the process reads: private, not writable, and
// with no page copied on write.
func Releasable(ms []Mapping, dev string, inode uint64) []Mapping {
	var out []Mapping
	for _, m := range ms {
		if m.Inode != inode || m.Dev != dev || inode == 0 {
			continue
		}
		if m.Perms[0] != 'r' || m.Perms[1] != '-' || m.Perms[3] != 'p' || m.AnonymousKiB != 0 {
			continue
		}
		out = append(out, m)
	}
	return out
}

// Pages are the running executable's read-only mappings that Release
// gives back, as Find read them.
type Pages struct {
	maps []Mapping
	// KiB is how much of them is resident.
	KiB int64
}

// Find reads which of the running executable's mappings Release would give
// back, and how much of them is resident. The executable is the file behind
// the mapping of Find's own code, in the kernel's terms (device and inode as
// smaps prints them: on an overlay they are not what stat says). A caller
// that logs what it gives back logs between Find and Release: code that
// runs after Release faults its pages back in, and a log line's code and
// data are not what a process at rest uses.
func Find() (Pages, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return Pages{}, fmt.Errorf("exepages: release: %w", err)
	}
	ms, err := ParseSmaps(f)
	f.Close()
	if err != nil {
		return Pages{}, err
	}
	self, ok := selfMapping(ms)
	if !ok {
		return Pages{}, errors.New("exepages: release: no file mapping holds this package's code")
	}
	p := Pages{maps: Releasable(ms, self.Dev, self.Inode)}
	for _, m := range p.maps {
		p.KiB += m.RssKiB
	}
	return p, nil
}

// Release gives back the resident pages of p's mappings.
func (p Pages) Release() error {
	for _, m := range p.maps {
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(m.Start), uintptr(m.End-m.Start), syscall.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("exepages: release %x-%x %s: %w", m.Start, m.End, m.Path, e)
		}
	}
	return nil
}

// Release gives back the resident pages of the running executable's
// read-only mappings (Find, then Pages.Release) and returns how many KiB
// were resident in them.
func Release() (int64, error) {
	p, err := Find()
	if err != nil {
		return 0, err
	}
	return p.KiB, p.Release()
}

// selfMapping is the file mapping that holds Find's code.
func selfMapping(ms []Mapping) (Mapping, bool) {
	code := uint64(reflect.ValueOf(Find).Pointer())
	for _, m := range ms {
		if m.Start <= code && code < m.End && m.Inode != 0 {
			return m, true
		}
	}
	return Mapping{}, false
}
