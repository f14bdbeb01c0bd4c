package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/internal/testenv"
)

// TestDebianPackage builds the Debian package from this checkout
// (packaging/deb/build.sh), installs it with dpkg -i on this machine, runs
// the installed pbxha (version, config check of the packaged config), checks
// every file the package promises, and purges it.
func TestDebianPackage(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.LookPath(t, "dpkg-deb")
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "pbxha").Output(); err == nil && strings.Contains(string(out), "installed") {
		testenv.Unavailable(t, "a pbxha package is already installed here; the test does not replace it")
	}
	if _, err := os.Stat("/usr/bin/pbxha"); err == nil {
		testenv.Unavailable(t, "/usr/bin/pbxha exists outside a package; the test does not overwrite it")
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("../packaging/deb/build.sh", t.TempDir())
	deb := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("build.sh printed %q, want the path of a .deb", out)
	}
	info := run("dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: pbxha", "conffiles", "postinst"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}

	// Install; purge whatever happens next.
	run("dpkg", "-i", deb)
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "pbxha").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge pbxha: %v\n%s", err, out)
		}
		for _, p := range []string{"/usr/bin/pbxha", "/etc/pbxha/pbxha.yaml", "/usr/lib/systemd/system/pbxha.service"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("after purge %s still exists", p)
			}
		}
	})

	v := run("/usr/bin/pbxha", "version")
	if !regexp.MustCompile(`^pbxha \S+ commit ([0-9a-f]{12}(-modified)?|unknown)`).MatchString(v) || strings.HasPrefix(v, "pbxha dev ") {
		t.Errorf("pbxha version: got %q, want the release and commit", v)
	}
	if !strings.Contains(v, " static") {
		t.Errorf("pbxha version: got %q, want a static (CGO_ENABLED=0) build", v)
	}
	if ldd, _ := exec.Command("file", "-L", "/usr/bin/pbxha").Output(); len(ldd) > 0 && strings.Contains(string(ldd), "dynamically linked") {
		t.Errorf("file /usr/bin/pbxha: %s, want statically linked", ldd)
	}
	if got := run("/usr/bin/pbxha", "config", "check", "/etc/pbxha/pbxha.yaml"); got != "/etc/pbxha/pbxha.yaml: ok\n" {
		t.Errorf("pbxha config check: got %q, want ok", got)
	}
	for _, p := range []string{
		"/usr/lib/systemd/system/pbxha.service", "/etc/logrotate.d/pbxha", "/usr/share/pbxha/pg-demote.sh",
		"/usr/share/man/man1/pbxha.1.gz", "/usr/share/man/man1/pbxha-status.1.gz",
		"/usr/share/bash-completion/completions/pbxha", "/usr/share/zsh/vendor-completions/_pbxha",
		"/usr/share/fish/vendor_completions.d/pbxha.fish", "/usr/share/doc/pbxha/README.md",
	} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("installed package lacks %s: %v", p, err)
		}
	}
	if fi, err := os.Stat("/usr/share/pbxha/pg-demote.sh"); err == nil && fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("pg-demote.sh mode %v, want executable", fi.Mode())
	}
	conf := run("dpkg-query", "-W", "-f=${Conffiles}", "pbxha")
	for _, want := range []string{"/etc/pbxha/pbxha.yaml", "/etc/logrotate.d/pbxha"} {
		if !strings.Contains(conf, want) {
			t.Errorf("conffiles %q lack %s", conf, want)
		}
	}
	unit := run("cat", "/usr/lib/systemd/system/pbxha.service")
	for _, want := range []string{"ExecStartPre=/usr/bin/pbxha config check -c /etc/pbxha/pbxha.yaml", "ExecStart=/usr/bin/pbxha run", "RestartPreventExitStatus=2", "Group=pbxha"} {
		if !strings.Contains(unit, want+"\n") && !strings.Contains(unit, want+" ") {
			t.Errorf("installed unit lacks %q", want)
		}
	}
	if _, err := exec.Command("getent", "group", "pbxha").Output(); err != nil {
		t.Errorf("postinst did not create the pbxha group: %v", err)
	}
	if lr, err := exec.LookPath("logrotate"); err == nil {
		if out, err := exec.Command(lr, "--debug", "--state", filepath.Join(t.TempDir(), "state"), "/etc/logrotate.d/pbxha").CombinedOutput(); err != nil {
			t.Errorf("logrotate --debug /etc/logrotate.d/pbxha: %v\n%s", err, out)
		}
	}
	if man, err := exec.LookPath("man"); err == nil {
		if out, err := exec.Command(man, "-w", "pbxha-status").CombinedOutput(); err != nil || !strings.Contains(string(out), "pbxha-status.1.gz") {
			t.Errorf("man -w pbxha-status: %v %s", err, out)
		}
	}
}
