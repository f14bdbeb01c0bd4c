package exepages

import (
	"os"
	"strings"
	"testing"
)

func TestParseSmaps(t *testing.T) {
	f, err := os.Open("testdata/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := ParseSmaps(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 7 {
		t.Fatalf("got %d mappings, want 7", len(ms))
	}
	want := Mapping{Start: 0x400000, End: 0x1024000, Perms: "r-xp", Dev: "fe:00", Inode: 10018843,
		Path: "/usr/sbin/pbxha", RssKiB: 2944}
	if ms[0] != want {
		t.Errorf("got first mapping %+v, want %+v", ms[0], want)
	}
	if got := ms[6]; got.Path != "[stack]" || got.Inode != 0 || got.AnonymousKiB != 20 {
		t.Errorf("got last mapping %+v, want the stack, 20 kB anonymous", got)
	}
}

func TestReleasable(t *testing.T) {
	exe := func(perms string, anon int64) Mapping {
		return Mapping{Start: 0x1000, End: 0x2000, Perms: perms, Dev: "fe:00", Inode: 7, Path: "/usr/sbin/pbxha", AnonymousKiB: anon}
	}
	tests := []struct {
		name string
		m    Mapping
		want bool
	}{
		{"code", exe("r-xp", 0), true},
		{"read-only data", exe("r--p", 0), true},
		{"writable data", exe("rw-p", 0), false},
		{"read-only, copied on write once", exe("r--p", 4), false},
		{"shared", exe("r--s", 0), false},
		{"not readable", exe("---p", 0), false},
		{"another file", Mapping{Perms: "r-xp", Dev: "fe:00", Inode: 8, Path: "/usr/lib/libc.so.6"}, false},
		{"same inode, another device", Mapping{Perms: "r-xp", Dev: "fe:01", Inode: 7}, false},
		{"anonymous", Mapping{Perms: "r--p", Dev: "00:00", Inode: 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := len(Releasable([]Mapping{tt.m}, "fe:00", 7)) == 1
			if got != tt.want {
				t.Errorf("got releasable %v, want %v", got, tt.want)
			}
		})
	}
	if got := Releasable([]Mapping{{Perms: "r--p", Dev: "00:00"}}, "00:00", 0); len(got) != 0 {
		t.Errorf("got %d releasable mappings of inode 0, want none", len(got))
	}
}

func TestParseSmapsRefuses(t *testing.T) {
	tests := map[string]string{
		"size before any mapping": "Rss: 4 kB\n",
		"short header":            "00400000-01024000 r-xp 00000000\n",
		"bad range":               "00400000 r-xp 00000000 fe:00 1 /x\n",
		"end before start":        "02000000-01000000 r-xp 00000000 fe:00 1 /x\n",
		"bad permissions":         "00400000-01024000 rx 00000000 fe:00 1 /x\n",
		"bad inode":               "00400000-01024000 r-xp 00000000 fe:00 x /x\n",
		"bad size":                "00400000-01024000 r-xp 00000000 fe:00 1 /x\nRss: -4 kB\n",
		"no unit":                 "00400000-01024000 r-xp 00000000 fe:00 1 /x\nAnonymous: 4\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseSmaps(strings.NewReader(in)); err == nil || !strings.HasPrefix(err.Error(), "exepages: smaps line") {
				t.Errorf("got error %v, want one naming the smaps line", err)
			}
		})
	}
}

// TestRelease gives back this test binary's start-up pages and checks that
// their resident size fell and that the code still runs (it does, or this
// test would not return).
func TestRelease(t *testing.T) {
	before := exeRss(t)
	kib, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRss(t)
	if kib <= 0 || kib < before/2 {
		t.Errorf("got %d KiB given back, want most of the %d KiB resident", kib, before)
	}
	if after >= before {
		t.Errorf("got %d KiB resident after, %d before: want fewer", after, before)
	}
	// What runs again faults back in: parse the fixture once more.
	TestParseSmaps(t)
}

// TestFind: what Find reports resident is what smaps says, and nothing is
// given back until Pages.Release.
func TestFind(t *testing.T) {
	p, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	if p.KiB <= 0 || len(p.maps) == 0 {
		t.Fatalf("got %d KiB in %d mappings, want the executable's resident pages", p.KiB, len(p.maps))
	}
	before := exeRss(t)
	if before < p.KiB/2 {
		t.Errorf("got %d KiB resident after Find, %d found: want nothing given back yet", before, p.KiB)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if after := exeRss(t); after >= before {
		t.Errorf("got %d KiB resident after Release, %d before: want fewer", after, before)
	}
}

// exeRss is the resident KiB of the read-only mappings of the running executable.
func exeRss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	ms, err := ParseSmaps(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	self, ok := selfMapping(ms)
	if !ok {
		t.Fatal("no mapping holds this code")
	}
	var kib int64
	for _, m := range Releasable(ms, self.Dev, self.Inode) {
		kib += m.RssKiB
	}
	return kib
}

func FuzzParseSmaps(f *testing.F) {
	seed, err := os.ReadFile("testdata/smaps")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed))
	f.Add("00400000-01024000 r-xp 00000000 fe:00 1 /a b\nRss: 4 kB\nVmFlags: rd ex\n")
	f.Add("Rss: 4 kB\n")
	f.Add("ffffffffffffffff-0 r 0 0 0\n")
	f.Fuzz(func(t *testing.T, in string) {
		ms, err := ParseSmaps(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.End < m.Start || len(m.Perms) != 4 || m.RssKiB < 0 || m.AnonymousKiB < 0 {
				t.Fatalf("parsed an impossible mapping %+v from %q", m, in)
			}
		}
		Releasable(ms, "fe:00", 1)
	})
}
