package supervisor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func readTestdata(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    procStat
		wantErr bool
	}{
		{"plain", "stat_plain.txt", procStat{State: 'S', PGID: 4242, StartTicks: 123456789}, false},
		{"comm with spaces and parens", "stat_parens.txt", procStat{State: 'T', PGID: 77, StartTicks: 99}, false},
		{"zombie", "stat_zombie.txt", procStat{State: 'Z', PGID: 4300, StartTicks: 555}, false},
		{"truncated", "stat_truncated.txt", procStat{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(readTestdata(t, tc.file))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %+v, %v, want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	// The real file of this process parses, with our own pgid.
	st, err := readStat(os.Getpid())
	if err != nil || st.StartTicks == 0 || st.State != 'R' && st.State != 'S' {
		t.Errorf("own /proc stat: got %+v, %v, want running with a start time", st, err)
	}
}

func TestParseShow(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    unitState
		wantErr bool
	}{
		{"active", "show_active.txt", unitState{MainPID: 1234, ActiveState: "active", SubState: "running"}, false},
		{"inactive", "show_inactive.txt", unitState{MainPID: 0, ActiveState: "inactive", SubState: "dead"}, false},
		{"failed, auto-restart", "show_autorestart.txt", unitState{MainPID: 0, ActiveState: "activating", SubState: "auto-restart"}, false},
		{"missing MainPID", "show_nopid.txt", unitState{}, true},
		{"bad MainPID", "show_badpid.txt", unitState{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseShow(readTestdata(t, tc.file))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %+v, %v, want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestSystemctlArgs(t *testing.T) {
	tests := []struct {
		op   string
		want []string
	}{
		{"show", []string{"show", "--property=MainPID", "--property=ActiveState", "--property=SubState", "--", "freeswitch.service"}},
		{"start", []string{"start", "--", "freeswitch.service"}},
		{"stop", []string{"stop", "--", "freeswitch.service"}},
		{"restart", []string{"restart", "--", "freeswitch.service"}},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			if got := systemctlArgs(tc.op, "freeswitch.service"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParsePIDFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr bool
	}{
		{"newline", "4242\n", 4242, false},
		{"spaces", "  4242 \n", 4242, false},
		{"no newline", "4242", 4242, false},
		{"second line ignored", "4242\nfoo\n", 4242, false},
		{"empty", "", 0, true},
		{"init", "1\n", 0, true},
		{"negative", "-5\n", 0, true},
		{"garbage", "freeswitch\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePIDFile([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %d, %v, want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    record
		wantErr bool
	}{
		{"ok", `{"pid":4242,"start_ticks":99,"command":["/usr/bin/freeswitch","-nc"]}`, record{PID: 4242, StartTicks: 99, Command: []string{"/usr/bin/freeswitch", "-nc"}}, false},
		{"no ticks", `{"pid":4242}`, record{}, true},
		{"pid 1", `{"pid":1,"start_ticks":5}`, record{}, true},
		{"not json", `4242`, record{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRecord([]byte(tc.in))
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v, want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	for _, n := range []string{"stat_plain.txt", "stat_parens.txt", "stat_zombie.txt", "stat_truncated.txt"} {
		f.Add(readTestdata(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err == nil && st.State == 0 {
			t.Errorf("parsed without a state: %+v", st)
		}
	})
}

func FuzzParseShow(f *testing.F) {
	for _, n := range []string{"show_active.txt", "show_inactive.txt", "show_autorestart.txt", "show_nopid.txt", "show_badpid.txt"} {
		f.Add(readTestdata(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := parseShow(b)
		if err == nil && u.MainPID < 0 {
			t.Errorf("negative MainPID %d", u.MainPID)
		}
	})
}

func FuzzParsePIDFile(f *testing.F) {
	for _, s := range []string{"4242\n", "1\n", "", "x", " 12 \n13\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if pid, err := parsePIDFile(b); err == nil && pid <= 1 {
			t.Errorf("accepted pid %d", pid)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{`{"pid":4242,"start_ticks":99}`, `{}`, `null`, `{"pid":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := parseRecord(b); err == nil && (r.PID <= 1 || r.StartTicks == 0) {
			t.Errorf("accepted %+v", r)
		}
	})
}
