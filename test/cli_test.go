package test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/internal/testenv"
)

// TestStatusPermissionDenied runs `pbxha status` as user nobody against a
// socket in a directory of mode 0750 owned by root and group daemon, as the
// unit's RuntimeDirectory is with Group=pbxha: the answer must say
// permission denied and name the group, not "no daemon".
func TestStatusPermissionDenied(t *testing.T) {
	testenv.RequireRoot(t)
	pbxha, _ := build(t)
	grp, err := user.LookupGroup("daemon")
	if err != nil {
		testenv.Unavailable(t, "no group daemon on this machine")
	}
	gid, _ := strconv.Atoi(grp.Gid)
	// t.TempDir's parent is 0700: nobody could not reach the socket at all.
	base, err := os.MkdirTemp("", "pbxha-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "run")
	socket := filepath.Join(dir, "pbxha.sock")
	ln, err := control.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, socket} {
		if err := os.Chown(p, 0, gid); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- control.Serve(ctx, ln, control.NewHandler(control.API{Status: func() control.Status { return control.Status{Node: "n"} }}), slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()

	// The built binary sits in a 0700 folder: nobody runs a copy.
	bin, err := os.ReadFile(pbxha)
	if err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(base, "pbxha")
	if err := os.WriteFile(shared, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(shared, "status", "--socket", socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 1 || !strings.Contains(string(out), "permission denied on "+socket) || !strings.Contains(string(out), "group daemon") {
		t.Errorf("as nobody: exit %d, %q; want exit 1, permission denied naming group daemon", code, out)
	}
	// Root reaches it.
	if out, err := exec.Command(pbxha, "status", "--socket", socket).CombinedOutput(); err != nil {
		t.Errorf("as root: %v %s", err, out)
	}
}
