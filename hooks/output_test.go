package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSummary(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"blank lines skipped", "\n\n  a  \n\n b\n", "a | b"},
		{"three lines at most", "1\n2\n3\n4\n", "1 | 2 | 3"},
		{"no final newline", "only", "only"},
		{"crlf", "a\r\nb\r\n", "a | b"},
		{"control characters blanked", "red \x1b[31mX\x1b[0m\n", "red  [31mX [0m"},
		{"invalid utf-8 replaced", "a\xffb\n", "a\uFFFDb"},
		{"long line cut on a rune boundary", long, strings.Repeat("é", 100) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summary(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"fewer than three", "a\n\nb\n", "a | b"},
		{"last three", "1\n2\n3\n4\n5\n", "3 | 4 | 5"},
		{"trailing blank lines skipped", "1\n2\n3\n4\n\n  \n", "2 | 3 | 4"},
		{"cleaned like Summary", "x\nred \x1b[31mX\n", "x | red  [31mX"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Tail(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBoundedBuffer(t *testing.T) {
	b := &boundedBuffer{limit: 5}
	for _, w := range []string{"ab", "cdef", "gh"} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q): got %d, %v; want %d, nil", w, n, err, len(w))
		}
	}
	got, truncated := b.result()
	if got != "abcde" || !truncated {
		t.Errorf("got %q, %v; want %q, true", got, truncated, "abcde")
	}
}

// FuzzSummary checks that any hook output gives a bounded, printable,
// valid UTF-8 summary and tail.
func FuzzSummary(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "output-*.txt"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, out string) {
		for _, s := range []string{Summary(out), Tail(out)} {
			if !utf8.ValidString(s) {
				t.Fatalf("summary %q: invalid UTF-8", s)
			}
			if max := summaryLines*(summaryLineSize+len("…")) + (summaryLines-1)*len(" | "); len(s) > max {
				t.Fatalf("summary: got %d bytes, want at most %d", len(s), max)
			}
			for _, r := range s {
				if unicode.IsControl(r) {
					t.Fatalf("summary %q: holds control character %U", s, r)
				}
			}
		}
	})
}

// FuzzEnviron checks that Environ either rejects vars or returns an
// environment without inherited PBXHA_ entries where every var appears once.
func FuzzEnviron(f *testing.F) {
	f.Add("PATH=/bin\nPBXHA_X=1", "PBXHA_EVENT", "takeover")
	f.Add("A=1\nB", "A", "2")
	f.Add("", "A=B", "x")
	f.Add("", "K", "v\x00")
	f.Fuzz(func(t *testing.T, base, key, val string) {
		env, err := Environ(strings.Split(base, "\n"), map[string]string{key: val})
		if err != nil {
			return
		}
		n := 0
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			if k == key {
				n++
				if v != val {
					t.Fatalf("%s: got %q, want %q", k, v, val)
				}
				continue
			}
			if strings.HasPrefix(k, envPrefix) {
				t.Fatalf("inherited %q", kv)
			}
		}
		if n != 1 {
			t.Fatalf("%s: appears %d times, want once", key, n)
		}
	})
}
