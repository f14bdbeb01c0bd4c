package rebuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pbxha/pbxha/internal/problem"
)

// Defaults of the rebuild keys.
const (
	DefaultStartTimeout = 2 * time.Minute // the server must accept connections within this after the start command
	DefaultTimeout      = 12 * time.Hour  // a whole rebuild, pg_basebackup included
	DefaultStopTimeout  = time.Minute     // the stop of the old server
	streamWait          = 2 * time.Minute // the new standby must stream within this once it runs
)

// KeptConfig are the files of the old data directory that the new one
// keeps: pg_basebackup copies the primary's, and a server whose
// configuration lives in its data directory needs its own.
var KeptConfig = []string{"postgresql.conf", "pg_hba.conf", "pg_ident.conf"}

// Problem is one configuration problem; keys are relative to the database
// section.
type Problem = problem.Problem

// Config is what a rebuild runs on: the database section's keys.
type Config struct {
	Node     string
	DataDir  string // the local server's data directory (PGDATA)
	DSN      string // the local server, to see it streaming
	StateDir string // where the journal of a rebuild under way is kept
	// PrimaryConninfo reaches the primary for pg_basebackup and becomes
	// primary_conninfo; "" means host=PEER port=5432 user=postgres.
	PrimaryConninfo string
	StopCommand     []string      // stops the local server ("": pg_ctl stop -m fast as the data directory's owner)
	StopTimeout     time.Duration // 0: DefaultStopTimeout
	StartCommand    []string      // starts the local server (required)
	StartTimeout    time.Duration // 0: DefaultStartTimeout
	Env             []string      // KEY=VALUE for the commands
	MaxRate         int           // pg_basebackup --max-rate in kB/s; 0: no cap
	Timeout         time.Duration // the whole rebuild; 0: DefaultTimeout
	BinDir          string        // where pg_basebackup and pg_ctl are; "": found (pg_config, /usr/lib/postgresql)
}

// Enabled reports whether rebuilds are configured: a data directory and a
// start command.
func (c Config) Enabled() bool { return c.DataDir != "" && len(c.StartCommand) > 0 }

// Problems lists every problem of the rebuild keys. Nothing is required:
// without data_dir and start_command there are no rebuilds.
func (c Config) Problems() []Problem {
	var ps problem.List
	if c.DataDir == "" && len(c.StartCommand) == 0 {
		return nil
	}
	switch {
	case c.DataDir == "":
		ps.Add("data_dir", "is required with start_command: the local server's data directory (PGDATA), which a rebuild replaces")
	case !filepath.IsAbs(c.DataDir) || filepath.Clean(c.DataDir) == "/":
		ps.Add("data_dir", "%q must be an absolute path below /", c.DataDir)
	}
	switch {
	case len(c.StartCommand) == 0:
		ps.Add("start_command", "is required with data_dir: the command that starts the local server (pg_ctlcluster 15 main start)")
	case c.StartCommand[0] == "" || strings.ContainsAny(c.StartCommand[0], " \t"):
		ps.Add("start_command[0]", "%q must name a program; the command runs without a shell, so give each argument as its own list item", c.StartCommand[0])
	}
	if c.MaxRate < 0 {
		ps.Add("rebuild_max_rate", "%d must not be negative (0: no cap)", c.MaxRate)
	} else if c.MaxRate > 0 && c.MaxRate < 32 {
		ps.Add("rebuild_max_rate", "%d kB/s is below pg_basebackup's least, 32 kB/s", c.MaxRate)
	}
	if c.StartTimeout < 0 {
		ps.Add("start_timeout", "%s must be positive", c.StartTimeout)
	}
	if c.Timeout < 0 {
		ps.Add("rebuild_timeout", "%s must be positive", c.Timeout)
	}
	return ps
}

// CheckHost lists what this machine lacks for a rebuild: pg_basebackup
// and pg_ctl, and the parent of the data directory.
func (c Config) CheckHost() []Problem {
	var ps problem.List
	if _, err := c.binDir(); err != nil {
		ps.Add("data_dir", "%v", err)
	}
	if c.DataDir != "" {
		parent := filepath.Dir(filepath.Clean(c.DataDir))
		if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
			ps.Add("data_dir", "%s: its parent %s must be a directory (the old data directory is kept aside there)", c.DataDir, parent)
		}
	}
	return ps
}

// binDir is where pg_basebackup and pg_ctl are: BinDir, pg_config
// --bindir, or the newest /usr/lib/postgresql/*/bin.
func (c Config) binDir() (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"pg_basebackup", "pg_ctl"} {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if c.BinDir != "" {
		if has(c.BinDir) {
			return c.BinDir, nil
		}
		return "", fmt.Errorf("pg_basebackup and pg_ctl are not in %s", c.BinDir)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return major(b) - major(a) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("pg_basebackup and pg_ctl are not installed (postgresql-client and the server package)")
}

// major is N in /usr/lib/postgresql/N/bin.
func major(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}
