package rebuild

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pbxha/pbxha/hooks"
)

// serverRuns reports whether a postmaster runs in dir (its postmaster.pid
// names a live process).
func (r *Rebuilder) serverRuns(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 1 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// stop stops the old server: the stop command, or pg_ctl stop -m fast.
func (r *Rebuilder) stop(ctx context.Context, dir string, owner *syscall.Credential) error {
	if len(r.cfg.StopCommand) > 0 {
		if _, err := hooks.Run(ctx, hooks.Hook{Name: "stop", Command: r.cfg.StopCommand, Timeout: cmp.Or(r.cfg.StopTimeout, DefaultStopTimeout)}, r.env("stop")); err != nil {
			return err
		}
		if r.serverRuns(dir) {
			return errors.New("the stop command exited but the server still runs")
		}
		return nil
	}
	return r.pgCtlStop(ctx, dir, owner, "fast")
}

// pgCtlStop runs pg_ctl stop as the data directory's owner.
func (r *Rebuilder) pgCtlStop(ctx context.Context, dir string, owner *syscall.Credential, mode string) error {
	t := cmp.Or(r.cfg.StopTimeout, DefaultStopTimeout)
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, "pg_ctl"), "stop", "-D", dir, "-m", mode, "-w", "-t", strconv.Itoa(int(t.Seconds())))
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// start runs the start command and waits for the server to accept
// connections.
func (r *Rebuilder) start(ctx context.Context, action string) error {
	t := cmp.Or(r.cfg.StartTimeout, DefaultStartTimeout)
	if _, err := hooks.Run(ctx, hooks.Hook{Name: "start", Command: r.cfg.StartCommand, Timeout: t}, r.env(action)); err != nil {
		return err
	}
	return waitAccepting(ctx, r.cfg.DSN, t)
}

// env is the start and stop commands' environment.
func (r *Rebuilder) env(action string) map[string]string {
	env, _ := hooks.ParseEnv(r.cfg.Env) // checked by the config's validation
	if env == nil {
		env = map[string]string{}
	}
	env["PBXHA_ACTION"] = action
	env["PBXHA_NODE"] = r.cfg.Node
	return env
}

// ownerOf is the user the PostgreSQL tools run as when pbxha runs as root:
// the owner of dir, or of its parent when dir is missing. Nil when pbxha
// does not run as root.
func ownerOf(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fi, err = os.Stat(filepath.Dir(dir))
	}
	if err != nil {
		return nil, fmt.Errorf("rebuild: owner of %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil, fmt.Errorf("rebuild: %s belongs to root; PostgreSQL runs as its own user (chown it)", dir)
	}
	return &syscall.Credential{Uid: st.Uid, Gid: st.Gid}, nil
}

// copyKept copies a configuration file of the old data directory into the
// new one, with its mode and owner; a file the old one lacks is skipped.
func copyKept(from, to string) error {
	fi, err := os.Stat(from)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		return os.Chown(to, int(st.Uid), int(st.Gid))
	}
	return nil
}

// connect opens a connection with a short timeout.
func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// localIsPrimary reports whether the server at dsn answers as a primary.
func localIsPrimary(ctx context.Context, dsn string) (bool, error) {
	conn, err := connect(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var rec bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec); err != nil {
		return false, err
	}
	return !rec, nil
}

// runningBaseBackups counts the base backups the primary serves now.
func runningBaseBackups(ctx context.Context, conninfo string) (int, error) {
	dsn := conninfo
	if !strings.Contains(dsn, "dbname=") {
		dsn += " dbname=postgres"
	}
	conn, err := connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_progress_basebackup").Scan(&n)
	return n, err
}

// waitAccepting waits until the server at dsn accepts connections.
func waitAccepting(ctx context.Context, dsn string, within time.Duration) error {
	return poll(ctx, within, "accept connections", func(ctx context.Context) (bool, string) {
		conn, err := connect(ctx, dsn)
		if err != nil {
			return false, err.Error()
		}
		conn.Close(context.Background())
		return true, ""
	})
}

// waitStreaming waits until the server at dsn is a standby whose WAL
// receiver streams.
func waitStreaming(ctx context.Context, dsn string, within time.Duration) error {
	return poll(ctx, within, "stream from the primary", func(ctx context.Context) (bool, string) {
		conn, err := connect(ctx, dsn)
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close(context.Background())
		var rec bool
		var status *string
		if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver LIMIT 1)").Scan(&rec, &status); err != nil {
			return false, err.Error()
		}
		switch {
		case !rec:
			return false, "it is a primary"
		case status == nil:
			return false, "no WAL receiver"
		case *status != "streaming":
			return false, "WAL receiver " + *status
		}
		return true, ""
	})
}

// poll checks cond every 200 ms until it holds, within passes or ctx ends.
func poll(ctx context.Context, within time.Duration, what string, cond func(context.Context) (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var why string
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		ok, w := cond(cctx)
		ccancel()
		if ok {
			return nil
		}
		why = w
		select {
		case <-ctx.Done():
			return fmt.Errorf("did not %s within %s: %s", what, within, why)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
