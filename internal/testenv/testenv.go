// Package testenv holds what tests that touch the real machine share: they
// skip when root, a network namespace or an installed server is missing (and
// fail under CI=true, so CI always exercises them); they wait on a condition
// with a deadline instead of sleeping; they find free and closed loopback
// ports; they freeze processes with SIGSTOP and wait for a process to stop or
// exit; they run the test PBX (test/testpbx) as its own process; and they
// make full or read-only file systems and sockets of other users.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test with reason, or fails it under CI.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true but %s; the test command must provide it", reason)
	}
	t.Skipf("skipped: %s (run the README test command as root to include it)", reason)
}

// RequireRoot skips or fails (see Unavailable) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "test needs root")
	}
}

// LookPath returns the path of an installed program, or skips or fails (see
// Unavailable) when it is missing. Directories in extra are searched after PATH.
func LookPath(t testing.TB, name string, extra ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range extra {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Unavailable(t, name+" is not installed")
	return ""
}

// MountTmpfs mounts a tmpfs with options opts ("size=1m", "ro") on dir, an
// existing directory, and unmounts it when the test ends: a small or
// read-only file system for tests of full and read-only disks. It needs
// root (RequireRoot).
func MountTmpfs(t testing.TB, dir, opts string) {
	t.Helper()
	RequireRoot(t)
	var flags uintptr
	var data []string
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "":
		default:
			data = append(data, o)
		}
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, strings.Join(data, ",")); err != nil {
		t.Fatalf("testenv: mount tmpfs %s on %s: %v", opts, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("testenv: unmount %s: %v", dir, err)
		}
	})
}
