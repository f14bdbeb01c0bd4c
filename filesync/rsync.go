package filesync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Commander makes the commands the syncer runs (rsync, its daemon). The
// default runs them on this host; tests run them in a network namespace.
type Commander func(ctx context.Context, name string, args ...string) *exec.Cmd

// localCommand is the default Commander.
func localCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

// ReadSecrets reads the first line of an rsync secrets file:
// "user:password". The file must not be readable by others (rsync's
// strict modes refuse it otherwise).
func ReadSecrets(path string) (user, password string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("filesync: secrets file %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("filesync: secrets file %s: mode %04o: group and others must have no access (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("filesync: secrets file %s: %w", path, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	user, password, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
	if !ok || user == "" || password == "" || strings.ContainsAny(user, " \t#") {
		return "", "", fmt.Errorf("filesync: secrets file %s: the first line must be user:password", path)
	}
	return user, password, nil
}

// daemonConfig renders rsyncd.conf: one read-only module per directory,
// open only to the peer's address and the secrets file's user, each
// transfer checked first by check (run by rsync through /bin/sh as
// "pre-xfer exec", with the module's path in RSYNC_MODULE_PATH), so that a
// refused source serves nothing.
func daemonConfig(c Config, user string, check []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by pbxha from its sync section at every start; do not edit\n")
	fmt.Fprintf(&b, "address = %s\nport = %d\n", c.Listen.Addr(), c.Listen.Port())
	fmt.Fprintf(&b, "use chroot = no\nreverse lookup = no\nread only = yes\nwrite only = no\nlist = no\nnumeric ids = yes\nmax connections = %d\n", 2*len(c.Dirs)+2)
	fmt.Fprintf(&b, "lock file = %s\n", filepath.Join(c.StateDir, "rsyncd.lock"))
	if os.Geteuid() == 0 {
		// Read every file as the owner of the data (root), not nobody.
		b.WriteString("uid = 0\ngid = 0\n")
	}
	for _, d := range c.Dirs {
		fmt.Fprintf(&b, "\n[%s]\n", d.Name)
		fmt.Fprintf(&b, "\tpath = %s\n", d.Source)
		fmt.Fprintf(&b, "\tauth users = %s\n\tsecrets file = %s\n\tstrict modes = yes\n", user, c.SecretsFile)
		fmt.Fprintf(&b, "\thosts allow = %s\n\thosts deny = *\n", c.Peer.Addr())
		if len(check) > 0 {
			argv := append([]string{}, check...)
			if d.Marker != "" {
				argv = append(argv, "--marker", d.Marker)
			}
			if d.RequireMount {
				argv = append(argv, "--require-mount")
			}
			fmt.Fprintf(&b, "\tpre-xfer exec = %s\n", shellJoin(argv))
		}
	}
	return b.String()
}

// shellJoin quotes argv for /bin/sh.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// moduleURL is the rsync URL of a directory on the peer's daemon.
func moduleURL(user string, peer netip.AddrPort, name string) string {
	return fmt.Sprintf("rsync://%s@%s/%s/", user, peer, name)
}

// pass is one of a pull's two rsync runs.
type pass int

const (
	transferPass pass = iota // copies what changed; deletes nothing
	deletePass               // deletes what the source no longer has; copies nothing
)

// pullArgs are rsync's arguments for one pass of a pull of d from url.
func pullArgs(d Dir, url string, p pass, ioTimeout time.Duration) []string {
	args := []string{"-a", "--numeric-ids", "--stats", "--partial-dir=" + PartialDir,
		"--timeout=" + strconv.Itoa(int(max(ioTimeout.Seconds(), 1))), "--contimeout=10"}
	if d.BWLimit > 0 {
		args = append(args, "--bwlimit="+strconv.Itoa(d.BWLimit))
	}
	if p == deletePass {
		args = append(args, "--delete", "--existing", "--ignore-existing")
	}
	for _, e := range d.Exclude {
		args = append(args, "--exclude="+e)
	}
	return append(args, url, strings.TrimSuffix(d.dest(), "/")+"/")
}

// runRsync runs one rsync pass and returns its stats. Cancelling ctx sends
// SIGTERM, on which rsync keeps the file it was receiving in the partial
// directory, to be resumed by the next pull. A source refused by the
// daemon's check is an error wrapping ErrRefused.
//
// rsync's own --timeout does not notice a receiving side whose link went
// down (its keep-alives fill the socket buffer and count as I/O), so a
// pull that receives nothing for stall is ended here too, with SIGTERM.
func runRsync(ctx context.Context, command Commander, password string, args []string, stall time.Duration) (Stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cmd := command(ctx, "rsync", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "RSYNC_PASSWORD="+password)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	// Files, not pipes: a forked rsync process that outlives the main one
	// would hold a pipe open and keep Wait from returning.
	out, err := os.CreateTemp("", "pbxha-rsync-*")
	if err != nil {
		return Stats{}, fmt.Errorf("rsync: output file: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	errf, err := os.CreateTemp("", "pbxha-rsync-*")
	if err != nil {
		return Stats{}, fmt.Errorf("rsync: output file: %w", err)
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	if err := cmd.Start(); err != nil {
		return Stats{}, fmt.Errorf("rsync: %w", err)
	}
	watchdog := make(chan struct{})
	go func() {
		defer close(watchdog)
		watchStall(ctx, cmd.Process.Pid, stall, cancel)
	}()
	err = cmd.Wait()
	cause := context.Cause(ctx) // nil unless the caller stopped it or it stalled
	cancel(nil)
	<-watchdog
	stdout, _ := readHead(out.Name(), 1<<20)
	stderr, _ := readHead(errf.Name(), 64<<10)
	st := ParseStats(stdout)
	if err == nil {
		return st, nil
	}
	msg := rsyncMessage(stderr)
	if i := strings.Index(msg, "pre-xfer exec returned failure"); i >= 0 {
		return st, fmt.Errorf("refused by the source: %s: %w", refusal(stderr), ErrRefused)
	}
	if cause != nil {
		return st, fmt.Errorf("rsync stopped: %w", cause)
	}
	return st, fmt.Errorf("rsync: %w: %s", err, msg)
}

// refusal is the reason the daemon's check printed, after rsync's line
// "pre-xfer exec returned failure (N):".
func refusal(stderr string) string {
	_, after, _ := strings.Cut(stderr, "pre-xfer exec returned failure")
	_, after, _ = strings.Cut(after, "\n")
	line, _, _ := strings.Cut(strings.TrimSpace(after), "\n")
	if line == "" {
		return "the source check failed"
	}
	return line
}

// rsyncMessage picks the lines of rsync's stderr worth an error: at most
// three, joined.
func rsyncMessage(stderr string) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() && len(lines) < 3 {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// errStalled ends a pull that received nothing for its I/O timeout.
var errStalled = errors.New("stalled")

// watchStall ends the rsync process pid (through cancel) once the bytes it
// read (rchar in /proc/PID/io) did not grow for stall, and returns when ctx
// ends.
func watchStall(ctx context.Context, pid int, stall time.Duration, cancel context.CancelCauseFunc) {
	path := "/proc/" + strconv.Itoa(pid) + "/io"
	tick := time.NewTicker(min(stall/4, time.Second))
	defer tick.Stop()
	var last int64 = -1
	since := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, ok := readChar(path)
		if !ok {
			continue // not readable (exited, or not ours): rsync's --timeout still applies
		}
		if n != last {
			last, since = n, time.Now()
			continue
		}
		if time.Since(since) >= stall {
			cancel(fmt.Errorf("%w: nothing received for %s", errStalled, stall))
			return
		}
	}
}

// readChar reads rchar from a /proc/PID/io file.
func readChar(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// readHead returns the first n bytes of the file at path.
func readHead(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n))
	return string(b), err
}

// errDaemon wraps a failed start of the rsync daemon.
var errDaemon = errors.New("filesync: rsync daemon")
