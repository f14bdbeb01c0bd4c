package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pbxha/pbxha/internal/problem"
)

// Mode says how the supervisor reaches the PBX.
type Mode string

// Modes of supervision.
const (
	ModeExec    Mode = "exec"    // pbxha starts the PBX itself and waits on it
	ModePIDFile Mode = "pidfile" // someone else starts it; pbxha watches the pidfile's pid
	ModeSystemd Mode = "systemd" // the PBX is a systemd unit
	ModeNone    Mode = "none"    // observe only: no process is watched or restarted
)

// String returns the mode's config name.
func (m Mode) String() string { return string(m) }

// Defaults for the Config fields whose zero value means "use the default".
// BackoffInitial and HangGrace have meaningful zero values (restart at once;
// no hang detection), so the config file's defaults (DefaultBackoffInitial,
// DefaultHangGrace) are applied by the config loader, not by New.
const (
	DefaultStopTimeout    = 10 * time.Second
	DefaultStartTimeout   = 30 * time.Second
	DefaultHangGrace      = 10 * time.Second
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 30 * time.Second
	DefaultBackoffFactor  = 2.0
	DefaultMaxRestarts    = 5
	DefaultWindow         = 10 * time.Minute
	DefaultSystemctl      = "systemctl"
)

// Config configures a Supervisor. Durations are wall-clock durations.
type Config struct {
	Mode Mode

	// exec mode: argv of the PBX, extra environment (KEY=VALUE, on top of
	// pbxha's own), working directory and the user and group to run as
	// (names or numeric ids; empty: pbxha's own).
	Command []string
	Env     []string
	Dir     string
	User    string
	Group   string

	// pidfile mode: the pidfile the PBX writes; Match, a substring of
	// /proc/PID/cmdline (NULs read as spaces) or of the /proc/PID/exe path
	// that identifies the PBX; the commands that start and stop it.
	PIDFile      string
	Match        string
	StartCommand []string
	StopCommand  []string

	// systemd mode: the unit, and the systemctl program (default
	// "systemctl"; tests point it at a stand-in).
	Unit      string
	Systemctl string

	// StateDir is where exec mode records the child it started (pid and
	// /proc start time, file pbx.pid) so that a restarted pbxha adopts it,
	// and where the PBX's stdout and stderr go (pbx.out, appended). Required
	// in exec mode; optional in pidfile mode (start/stop command output).
	StateDir string

	StopTimeout  time.Duration // SIGTERM -> SIGKILL; 0: DefaultStopTimeout
	StartTimeout time.Duration // pidfile/systemd: start command and new pid; 0: DefaultStartTimeout
	HangGrace    time.Duration // critical service failed this long while alive -> hung; 0 disables

	BackoffInitial time.Duration // delay before the first restart; 0: at once
	BackoffMax     time.Duration // 0: DefaultBackoffMax
	BackoffFactor  float64       // 0: DefaultBackoffFactor; else >= 1
	MaxRestarts    int           // automatic restarts allowed within Window; 0: DefaultMaxRestarts
	Window         time.Duration // 0: DefaultWindow

	StopOnExit bool // stop the PBX when Run returns; default: leave it running
}

// withDefaults returns c with the zero-means-default fields filled in.
func (c Config) withDefaults() Config {
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffInitial)
	}
	if c.BackoffFactor == 0 {
		c.BackoffFactor = DefaultBackoffFactor
	}
	if c.MaxRestarts == 0 {
		c.MaxRestarts = DefaultMaxRestarts
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Systemctl == "" {
		c.Systemctl = DefaultSystemctl
	}
	return c
}

// Problem is one thing wrong with a Config: the config key below
// pbx.supervise (mode, command, backoff_max...) and what is wrong with it,
// lowercase, as pbxha's config check prints it.
type Problem = problem.Problem

// Validate reports every problem of c (zero values read as their defaults)
// as one error, or nil. It looks nothing up on the system; New also
// resolves the user and group (see CheckHost).
func (c Config) Validate() error {
	return problem.List(c.Problems()).Err("")
}

// Problems lists every problem of c, zero values read as their defaults.
// These are the only rules about the pbx.supervise keys: pbxha's config
// check reports them as they are.
func (c Config) Problems() []Problem {
	c = c.withDefaults()
	var ps problem.List
	bad := ps.Add
	argv := func(key string, v []string, required bool) {
		switch {
		case len(v) == 0 && required:
			bad(key, "is required with mode %q: the program and its arguments as a list", c.Mode)
		case len(v) > 0 && v[0] == "":
			bad(key+"[0]", "must name a program")
		case len(v) > 0 && strings.ContainsAny(v[0], " \t"):
			bad(key+"[0]", "%q contains spaces; the command runs without a shell, so give each argument as its own list item", v[0])
		}
	}
	switch c.Mode {
	case ModeExec:
		argv("command", c.Command, true)
		for i, kv := range c.Env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				bad(fmt.Sprintf("env[%d]", i), "must be KEY=VALUE (not shown: it may hold a secret)")
			}
		}
		if c.Dir != "" && !filepath.IsAbs(c.Dir) {
			bad("dir", "%q must be an absolute path", c.Dir)
		}
		if c.StateDir == "" {
			bad("state_dir", "is required with mode exec (it records the PBX pid so a restarted pbxha adopts it)")
		}
	case ModePIDFile:
		if !filepath.IsAbs(c.PIDFile) {
			bad("pidfile", "%q must be an absolute path (the PBX's pid file)", c.PIDFile)
		}
		if c.Match == "" {
			bad("match", `is required with mode "pidfile": text in the PBX's command line or executable path, e.g. "freeswitch"`)
		}
		argv("start_command", c.StartCommand, true)
		argv("stop_command", c.StopCommand, false)
	case ModeSystemd:
		if c.Unit == "" || strings.ContainsAny(c.Unit, " \t/") || strings.HasPrefix(c.Unit, "-") {
			bad("unit", "%q must name a systemd unit, e.g. freeswitch.service", c.Unit)
		}
	case ModeNone:
	case "":
		bad("mode", "is required: exec, pidfile, systemd or none")
	default:
		bad("mode", "%q must be one of exec, pidfile, systemd, none", string(c.Mode))
	}
	if c.Mode != ModeExec && len(c.Command) > 0 {
		bad("command", "is set but mode is %q; command is for mode exec", c.Mode)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"stop_timeout", c.StopTimeout}, {"start_timeout", c.StartTimeout}, {"window", c.Window}} {
		if d.v <= 0 {
			bad(d.key, "%s must be positive", d.v)
		}
	}
	if c.HangGrace < 0 {
		bad("hang_grace", "%s must not be negative (0 turns hang detection off)", c.HangGrace)
	}
	if c.BackoffInitial < 0 {
		bad("backoff_initial", "%s must not be negative", c.BackoffInitial)
	}
	if c.BackoffMax < c.BackoffInitial {
		bad("backoff_max", "%s must not be shorter than backoff_initial %s", c.BackoffMax, c.BackoffInitial)
	}
	if c.BackoffFactor < 1 {
		bad("backoff_factor", "%v must be at least 1", c.BackoffFactor)
	}
	if c.MaxRestarts < 1 {
		bad("max_restarts", "%d must be at least 1", c.MaxRestarts)
	}
	return ps
}

// CheckHost reports what New would refuse about this host: in exec mode, a
// user or group that does not exist here. The problems are keyed like
// Problems'.
func (c Config) CheckHost() []Problem {
	if c.Mode != ModeExec {
		return nil
	}
	var ps []Problem
	if c.User != "" {
		if _, err := credential(c.User, ""); err != nil {
			ps = append(ps, Problem{Key: "user", Msg: lookupMsg(c.User, "user", err)})
		}
	}
	if c.Group != "" {
		if _, err := credential("", c.Group); err != nil {
			ps = append(ps, Problem{Key: "group", Msg: lookupMsg(c.Group, "group", err)})
		}
	}
	return ps
}

// lookupMsg words a failed user or group lookup: unknown, or why the
// lookup itself failed.
func lookupMsg(name, what string, err error) string {
	var uu user.UnknownUserError
	var ug user.UnknownGroupError
	var uid user.UnknownUserIdError
	var gid user.UnknownGroupIdError
	if errors.As(err, &uu) || errors.As(err, &ug) || errors.As(err, &uid) || errors.As(err, &gid) {
		return fmt.Sprintf("%q is not a %s of this host", name, what)
	}
	return fmt.Sprintf("%q cannot be looked up: %v", name, problem.Innermost(err))
}

// cred is a resolved user and group; zero ids with set=false mean "as pbxha".
type cred struct {
	uid, gid uint32
	set      bool
}

// credential resolves user and group names (or numeric ids). A user without
// a group runs with the user's primary group.
func credential(userName, groupName string) (cred, error) {
	if userName == "" && groupName == "" {
		return cred{}, nil
	}
	c := cred{uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), set: true}
	if userName != "" {
		u, err := user.Lookup(userName)
		if err != nil {
			if _, nerr := strconv.ParseUint(userName, 10, 32); nerr == nil {
				u, err = user.LookupId(userName)
			}
		}
		if err != nil {
			return cred{}, fmt.Errorf("user %q: %w", userName, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.uid, c.gid = uint32(uid), uint32(gid)
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if _, nerr := strconv.ParseUint(groupName, 10, 32); nerr == nil {
				g, err = user.LookupGroupId(groupName)
			}
		}
		if err != nil {
			return cred{}, fmt.Errorf("group %q: %w", groupName, err)
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		c.gid = uint32(gid)
	}
	return c, nil
}
