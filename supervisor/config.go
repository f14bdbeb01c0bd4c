package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
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

// validate reports every problem of c (after defaults), each naming its field.
func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	switch c.Mode {
	case ModeExec:
		if len(c.Command) == 0 || c.Command[0] == "" {
			bad("Command", "required in exec mode")
		}
		if c.StateDir == "" {
			bad("StateDir", "required in exec mode (it records the PBX pid so a restarted pbxha adopts it)")
		}
		if _, err := credential(c.User, c.Group); err != nil {
			bad("User/Group", "%v", err)
		}
	case ModePIDFile:
		if c.PIDFile == "" {
			bad("PIDFile", "required in pidfile mode")
		}
		if c.Match == "" {
			bad("Match", "required in pidfile mode (it tells the PBX from a process that reused its pid)")
		}
		if len(c.StartCommand) == 0 || c.StartCommand[0] == "" {
			bad("StartCommand", "required in pidfile mode")
		}
	case ModeSystemd:
		if c.Unit == "" {
			bad("Unit", "required in systemd mode")
		} else if strings.HasPrefix(c.Unit, "-") {
			bad("Unit", "%q must not start with '-'", c.Unit)
		}
	case ModeNone:
	case "":
		bad("Mode", "required: exec, pidfile, systemd or none")
	default:
		bad("Mode", "%q is not one of exec, pidfile, systemd, none", string(c.Mode))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"StopTimeout", c.StopTimeout}, {"StartTimeout", c.StartTimeout}, {"HangGrace", c.HangGrace},
		{"BackoffInitial", c.BackoffInitial}, {"BackoffMax", c.BackoffMax}, {"Window", c.Window},
	} {
		if d.v < 0 {
			bad(d.name, "%v is negative", d.v)
		}
	}
	if c.BackoffMax < c.BackoffInitial {
		bad("BackoffMax", "%v is below BackoffInitial %v", c.BackoffMax, c.BackoffInitial)
	}
	if c.BackoffFactor < 1 {
		bad("BackoffFactor", "%v is below 1", c.BackoffFactor)
	}
	if c.MaxRestarts < 0 {
		bad("MaxRestarts", "%d is negative", c.MaxRestarts)
	}
	return errors.Join(errs...)
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
