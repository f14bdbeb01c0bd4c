// Package testenv holds what tests that touch the real machine share: they
// skip when root, a network namespace or an installed server is missing (and
// fail under CI=true, so CI always exercises them); they wait on a condition
// with a deadline instead of sleeping; they find free and closed loopback
// ports; they freeze processes with SIGSTOP and wait for a process to stop or
// exit; and they run the test PBX (test/testpbx) as its own process.
package testenv

import (
	"os"
	"os/exec"
	"testing"
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
