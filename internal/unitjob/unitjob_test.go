package unitjob

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestUnit(t *testing.T) {
	for _, tc := range []struct{ name, cgroup, want string }{
		{"unified", "0::/system.slice/pbxha.service\n", "pbxha.service"},
		{"a sub-cgroup of the service", "0::/system.slice/pbxha.service/payload\n", "pbxha.service"},
		{"templated", "0::/system.slice/system-pbxha.slice/pbxha@b.service\n", "pbxha@b.service"},
		{"legacy name=systemd", "12:cpu:/\n1:name=systemd:/system.slice/pbxha.service\n", "pbxha.service"},
		{"a login session", "0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"a container root", "0::/\n", ""},
		{"garbage", "no colons here\n::\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unit([]byte(tc.cgroup)); got != tc.want {
				t.Errorf("Unit(%q): got %q, want %q", tc.cgroup, got, tc.want)
			}
		})
	}
}

func TestRestarting(t *testing.T) {
	for _, tc := range []struct {
		name, jobs string
		want       bool
	}{
		{"systemctl restart", "1234 pbxha.service restart running\n", true},
		{"try-restart", "  77 pbxha.service try-restart running\n", true},
		{"systemctl stop", "1234 pbxha.service stop running\n", false},
		{"a shutdown", "1 poweroff.target start waiting\n1234 pbxha.service stop running\n", false},
		{"another unit restarting", "1234 freeswitch.service restart running\n", false},
		{"no jobs", "", false},
		{"garbage", "restart\npbxha.service restart\n\x00\xff\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Restarting([]byte(tc.jobs), "pbxha.service"); got != tc.want {
				t.Errorf("Restarting(%q): got %v, want %v", tc.jobs, got, tc.want)
			}
		})
	}
}

// TestCheck runs check with a stand-in systemctl and cgroup file: in a
// service unit being restarted, stopped, and outside any unit (systemctl is
// not run then).
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "systemctl")
	script := "#!/bin/sh\n[ \"$1 $2\" = \"list-jobs --no-legend\" ] || exit 9\ncat \"" + filepath.Join(dir, "jobs") + "\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cgroup, jobs string
		restarting         bool
		unit               string
	}{
		{"restart", "0::/system.slice/pbxha.service\n", "42 pbxha.service restart running\n", true, "pbxha.service"},
		{"stop", "0::/system.slice/pbxha.service\n", "42 pbxha.service stop running\n", false, "pbxha.service"},
		{"no unit", "0::/\n", "42 pbxha.service restart running\n", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cg := filepath.Join(dir, "cgroup")
			if err := os.WriteFile(cg, []byte(tc.cgroup), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "jobs"), []byte(tc.jobs), 0o644); err != nil {
				t.Fatal(err)
			}
			restarting, unit, err := check(context.Background(), cg, fake)
			if err != nil || restarting != tc.restarting || unit != tc.unit {
				t.Errorf("check: got %v, %q, %v; want %v, %q, nil", restarting, unit, err, tc.restarting, tc.unit)
			}
		})
	}
	// Outside a unit systemctl is not needed; inside one, a systemctl that
	// cannot run is an error (the caller then hands over, as for a stop).
	if _, _, err := check(context.Background(), filepath.Join(dir, "cgroup"), filepath.Join(dir, "missing")); err != nil {
		t.Errorf("check outside a unit with no systemctl: %v, want no error", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::/system.slice/pbxha.service\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := check(context.Background(), filepath.Join(dir, "cgroup"), filepath.Join(dir, "missing")); err == nil {
		t.Errorf("check with a systemctl that does not exist: got no error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("0::/system.slice/pbxha.service\n"), []byte("1 pbxha.service restart running\n"))
	f.Add([]byte("1:name=systemd:/a/b.service/c"), []byte("x y z"))
	f.Fuzz(func(t *testing.T, cgroup, jobs []byte) {
		unit := Unit(cgroup)
		_ = Restarting(jobs, unit)
	})
}
