package probe

import (
	"math"
	"strings"
	"testing"
)

func TestParseLSN(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    LSN
		wantErr bool
	}{
		{"zero", "0/0", 0, false},
		{"typical", "0/3000060", 0x3000060, false},
		{"high half", "16/B374D848", 0x16_B374D848, false},
		{"lower case", "16/b374d848", 0x16_B374D848, false},
		{"leading zeros", "00000000/00000001", 1, false},
		{"max", "FFFFFFFF/FFFFFFFF", math.MaxUint64, false},
		{"empty", "", 0, true},
		{"no slash", "3000060", 0, true},
		{"empty high", "/1", 0, true},
		{"empty low", "1/", 0, true},
		{"nine digits", "1/123456789", 0, true},
		{"two slashes", "1/2/3", 0, true},
		{"space", " 1/2", 0, true},
		{"sign", "+1/2", 0, true},
		{"hex prefix", "0x1/2", 0, true},
		{"not hex", "G/0", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLSN(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseLSN(%q): got error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "pg: parse lsn ") {
					t.Errorf("error: got %q, want prefix \"pg: parse lsn \"", err)
				}
				return
			}
			if got != tc.want {
				t.Errorf("ParseLSN(%q): got %#x, want %#x", tc.in, uint64(got), uint64(tc.want))
			}
		})
	}
}

func TestLSNString(t *testing.T) {
	tests := []struct {
		in   LSN
		want string
	}{
		{0, "0/0"},
		{0x3000060, "0/3000060"},
		{0x16_B374D848, "16/B374D848"},
		{math.MaxUint64, "FFFFFFFF/FFFFFFFF"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLSNBytesAfter(t *testing.T) {
	tests := []struct {
		name string
		l, o LSN
		want uint64
	}{
		{"ahead", 0x3000060, 0x3000000, 0x60},
		{"equal", 5, 5, 0},
		{"behind saturates", 5, 9, 0},
		{"across halves", 0x1_00000000, 0xFFFFFFFF, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.BytesAfter(tc.o); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzParseLSN checks that ParseLSN never panics, accepts only what
// PostgreSQL's pg_lsn_in accepts, and that String round-trips.
func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/0", "0/3000060", "16/B374D848", "ffffffff/ffffffff", "1/", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLSN(s)
		if err != nil {
			return
		}
		hi, lo, ok := strings.Cut(s, "/")
		if !ok || len(hi) == 0 || len(hi) > 8 || len(lo) == 0 || len(lo) > 8 ||
			strings.Trim(hi+lo, "0123456789abcdefABCDEF") != "" {
			t.Fatalf("ParseLSN(%q) = %s, want an error", s, l)
		}
		back, err := ParseLSN(l.String())
		if err != nil || back != l {
			t.Fatalf("ParseLSN(%q).String() = %q reparses to %s, %v; want %s", s, l.String(), back, err, l)
		}
		if !strings.EqualFold(strings.TrimLeft(hi, "0"), strings.TrimLeft(strings.SplitN(l.String(), "/", 2)[0], "0")) {
			t.Fatalf("ParseLSN(%q).String() = %q, want the same high half", s, l.String())
		}
	})
}
