package mariadbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// template returns the initial data directory every server copies:
// mariadb-install-db, then the users and databases, made with the binary
// log off so that no server starts with GTIDs. It is made once per machine
// and kept in the temporary directory under a name that changes with the
// server binary and the setup statements, so that test processes share it
// instead of leaving one each behind.
func template(t testing.TB, bin string) string {
	t.Helper()
	templateOnce.Do(func() { templateDir, templateErr = findTemplate(bin) })
	if templateErr != nil {
		t.Fatalf("mariadbtest: %v", templateErr)
	}
	return templateDir
}

// setupSQL makes the users and databases of the initial data directory.
func setupSQL() []string {
	return append([]string{
		"CREATE DATABASE pbxha", "CREATE DATABASE pbx",
		"CREATE USER pbxha@'%' IDENTIFIED BY 'pbxha'",
		"CREATE USER app@'%' IDENTIFIED BY 'app'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON pbx.* TO app@'%'",
		"CREATE USER admin@'%' IDENTIFIED BY 'admin'",
		"GRANT ALL PRIVILEGES ON *.* TO admin@'%' WITH GRANT OPTION",
	}, PbxhaGrants...)
}

// findTemplate returns the shared initial data directory, making it when
// it is missing.
func findTemplate(bin string) (string, error) {
	fi, err := os.Stat(bin)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %d %d %d\n%s", bin, fi.Size(), fi.ModTime().UnixNano(), os.Geteuid(), strings.Join(setupSQL(), "\n"))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("mariadbtest-template-%x", h.Sum(nil)[:8]))
	if _, err := os.Stat(filepath.Join(dir, "mysql")); err == nil {
		return dir, nil
	}
	root, err := os.MkdirTemp("", "mariadbtest-making-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	made := filepath.Join(root, "data")
	if err := makeTemplate(bin, root, made); err != nil {
		return "", err
	}
	// Another process may have made it meanwhile: then its copy is used.
	if err := os.Rename(made, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "mysql")); serr != nil {
			return "", fmt.Errorf("keep the initial data directory: %w", err)
		}
	}
	return dir, nil
}

// makeTemplate makes the initial data directory dir, with the template
// server's files in root.
func makeTemplate(bin, root, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	install, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		install = "/usr/bin/mariadb-install-db"
	}
	args := []string{"--no-defaults", "--datadir=" + dir, "--auth-root-authentication-method=normal", "--skip-test-db",
		"--skip-name-resolve", "--innodb-log-file-size=8M"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.CommandContext(ctx, install, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	sock := filepath.Join(root, "s.sock")
	sargs := []string{"--no-defaults", "--datadir=" + dir, "--skip-networking", "--socket=" + sock,
		"--pid-file=" + filepath.Join(root, "t.pid"), "--log-error=" + filepath.Join(root, "t.log"), "--skip-log-bin",
		"--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"}
	if os.Geteuid() == 0 {
		sargs = append(sargs, "--user=root")
	}
	cmd := exec.Command(bin, sargs...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	db, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		return err
	}
	defer db.Close()
	for db.PingContext(ctx) != nil {
		if ctx.Err() != nil {
			log, _ := os.ReadFile(filepath.Join(root, "t.log"))
			return fmt.Errorf("template server did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, q := range setupSQL() {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("template: %s: %w", q, err)
		}
	}
	// The server closes the connection as it shuts down: no error to check.
	_, _ = db.ExecContext(ctx, "SHUTDOWN")
	return cmd.Wait()
}
