package probe

import (
	"strings"
	"testing"
)

func TestParseMariaDBGTIDList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // rendered back, joined by ","
		pos     uint64
		wantErr string
	}{
		{"empty", "", "", 0, ""},
		{"one", "0-1-42", "0-1-42", 42, ""},
		{"two domains", "0-1-42, 1-3-7\n", "0-1-42,1-3-7", 49, ""},
		{"big", "4294967295-4294967295-18446744073709551615", "4294967295-4294967295-18446744073709551615", 1<<64 - 1, ""},
		{"saturates", "0-1-18446744073709551615,1-1-5", "0-1-18446744073709551615,1-1-5", 1<<64 - 1, ""},
		{"two parts", "0-42", "", 0, "want domain-server-seq"},
		{"negative", "0-1--4", "", 0, "want domain-server-seq"},
		{"letters", "0-x-4", "", 0, "three unsigned numbers"},
		{"domain twice", "0-1-4,0-2-5", "", 0, "domain 0 twice"},
		{"empty entry", "0-1-4,,1-1-1", "", 0, "empty entry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseMariaDBGTIDList(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error: got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v, want nil", err)
			}
			if got := joinGTIDs(l); got != tc.want {
				t.Errorf("list: got %q, want %q", got, tc.want)
			}
			if got := MariaDBPosition(l); got != tc.pos {
				t.Errorf("position: got %d, want %d", got, tc.pos)
			}
		})
	}
}

func TestMaxMariaDBGTIDList(t *testing.T) {
	a, _ := ParseMariaDBGTIDList("0-1-42,2-1-3")
	b, _ := ParseMariaDBGTIDList("0-2-40,1-2-9")
	if got, want := joinGTIDs(MaxMariaDBGTIDList(a, b)), "0-1-42,1-2-9,2-1-3"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseGTIDSet(t *testing.T) {
	const u1, u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "2174b383-5441-11e8-b90a-c80aa9429562"
	tests := []struct {
		name    string
		in      string
		want    string
		count   uint64
		wantErr string
	}{
		{"empty", "", "", 0, ""},
		{"one transaction", u1 + ":5", u1 + ":5", 1, ""},
		{"intervals", u1 + ":1-5:11-18", u1 + ":1-5:11-18", 13, ""},
		{"merged", u1 + ":6-10:1-5:8-12", u1 + ":1-12", 12, ""},
		{"two sources with line break", strings.ToUpper(u1) + ":1-5,\n" + u2 + ":1-7", u2 + ":1-7," + u1 + ":1-5", 12, ""},
		{"tagged", u1 + ":1-3:pbx:1-2", u1 + ":1-3," + u1 + ":pbx:1-2", 5, ""},
		{"not a uuid", "abc:1-3", "", 0, "want uuid:interval"},
		{"no interval", u1, "", 0, "want uuid:interval"},
		{"zero", u1 + ":0-3", "", 0, "1 <= start <= end"},
		{"backwards", u1 + ":5-3", "", 0, "1 <= start <= end"},
		{"bad tag", u1 + ":9tag", "", 0, "not an interval or a tag"},
		{"bad end", u1 + ":1-x", "", 0, "not an interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseGTIDSet(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error: got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v, want nil", err)
			}
			if got := s.String(); got != tc.want {
				t.Errorf("set: got %q, want %q", got, tc.want)
			}
			if got := s.Count(); got != tc.count {
				t.Errorf("count: got %d, want %d", got, tc.count)
			}
		})
	}
}

func TestGTIDSetUnion(t *testing.T) {
	const u = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	a, _ := ParseGTIDSet(u + ":1-10")
	b, _ := ParseGTIDSet(u + ":5-12:20")
	if got, want := a.Union(b).String(), u+":1-12:20"; got != want {
		t.Errorf("union: got %q, want %q", got, want)
	}
	if got := a.Union(b).Count(); got != 13 {
		t.Errorf("count: got %d, want 13", got)
	}
}

// FuzzParseGTID: the parsers never panic, and what they accept renders to
// a form that parses to the same position.
func FuzzParseGTID(f *testing.F) {
	for _, s := range []string{"", "0-1-42", "0-1-42,1-3-7", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:tag:1", "0-1-", ",", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if l, err := ParseMariaDBGTIDList(s); err == nil {
			again, err := ParseMariaDBGTIDList(joinGTIDs(l))
			if err != nil || MariaDBPosition(again) != MariaDBPosition(l) {
				t.Fatalf("mariadb %q: round trip %q: %v", s, joinGTIDs(l), err)
			}
		}
		if set, err := ParseGTIDSet(s); err == nil {
			again, err := ParseGTIDSet(set.String())
			if err != nil || again.Count() != set.Count() || again.String() != set.String() {
				t.Fatalf("mysql %q: round trip %q: %v", s, set.String(), err)
			}
			if u := set.Union(again); u.Count() != set.Count() {
				t.Fatalf("mysql %q: union with itself: got %d, want %d", s, u.Count(), set.Count())
			}
		}
	})
}
