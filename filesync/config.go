package filesync

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pbxha/pbxha/internal/problem"
)

// Defaults of the sync section.
const (
	DefaultInterval  = time.Minute            // time between two pulls of a directory
	DefaultLagAlert  = 10 * time.Minute       // sync_lagging past this age
	DefaultMarker    = ".pbxha-sync"          // the file a source must hold
	DefaultIOTimeout = 60 * time.Second       // rsync --timeout: no data for this long ends a pull
	PartialDir       = ".pbxha-partial"       // where rsync keeps partly received files, inside the destination
	retryAfter       = 10 * time.Second       // a failed pull is tried again after min(interval, this)
	settle           = 500 * time.Millisecond // changes on the primary are told to the standby after this quiet time
)

// Problem is one configuration problem: the key below the sync section and
// what is wrong with it.
type Problem = problem.Problem

// Config is the sync section as this package takes it.
type Config struct {
	Node string // this node's name, for events
	// Listen is this node's address for its rsync daemon (TCP) and for
	// change notices from the peer (UDP, the same port number).
	Listen netip.AddrPort
	// Peer is the peer's Listen address.
	Peer netip.AddrPort
	// SecretsFile is an rsync secrets file, "user:password" on its first
	// line, mode 0600, the same file on both nodes: the daemon checks
	// clients against it, and the pulls log in with its first line.
	SecretsFile string
	// Key signs change notices (the pair's heartbeat key).
	Key []byte
	// StateDir holds the generated rsyncd.conf.
	StateDir string
	// LagAlert raises sync_lagging when a pulled directory's last complete
	// sync is older than this (0: DefaultLagAlert).
	LagAlert time.Duration
	// IOTimeout is rsync's --timeout (0: DefaultIOTimeout).
	IOTimeout time.Duration
	// Dirs are the directories kept in step.
	Dirs []Dir
}

// Dir is one directory kept in step.
type Dir struct {
	// Name is the rsync module, the same on both nodes.
	Name string
	// Source is what this node serves while primary.
	Source string
	// Destination is where this node writes while standby: normally the
	// same directory as Source, so that what a standby received is what it
	// serves after a takeover ("": Source).
	Destination string
	// Exclude are rsync exclude patterns, applied by the pulling node.
	Exclude []string
	// BWLimit caps a pull, in KiB/s (rsync --bwlimit); 0: no cap.
	BWLimit int
	// Interval is the time between two pulls (0: DefaultInterval).
	Interval time.Duration
	// Watch: the primary watches Source (fsnotify) and tells the standby
	// to pull at once after a change.
	Watch bool
	// Marker is a file that Source must hold ("": no marker check).
	Marker string
	// RequireMount: Source, and Destination on the standby, must be mount
	// points.
	RequireMount bool
}

// dest is the destination directory.
func (d Dir) dest() string {
	if d.Destination == "" {
		return d.Source
	}
	return d.Destination
}

func (d Dir) interval() time.Duration {
	if d.Interval <= 0 {
		return DefaultInterval
	}
	return d.Interval
}

// nameRE is what a directory name may be, up to 63 bytes (validName): the
// length is checked apart, since a bounded repeat ({0,62}) compiled into 22
// KiB of program, live for the whole run.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// validName reports whether s is 1-63 lowercase letters, digits, "_", "."
// or "-", starting with a letter or digit.
func validName(s string) bool { return len(s) <= 63 && nameRE.MatchString(s) }

// Problems lists every problem of the configuration; keys are relative to
// the sync section. These are the only rules about the sync keys: pbxha's
// config check reports them as they are.
func (c Config) Problems() []Problem {
	var ps problem.List
	if len(c.Dirs) == 0 {
		return nil
	}
	if !c.Listen.IsValid() || c.Listen.Port() == 0 {
		ps.Add("listen", "is required with directories: this node's ip:port for its rsync daemon, e.g. 10.1.1.1:8873")
	}
	if !c.Peer.IsValid() || c.Peer.Port() == 0 {
		ps.Add("peer", "is required with directories: the peer's sync.listen, e.g. 10.1.1.2:8873")
	}
	if c.Listen.IsValid() && c.Peer.IsValid() && c.Listen.Addr().Is4() != c.Peer.Addr().Is4() {
		ps.Add("peer", "%s and listen %s are of different address families", c.Peer, c.Listen)
	}
	switch {
	case c.SecretsFile == "":
		ps.Add("secrets_file", "is required with directories: an rsync secrets file, user:password, mode 0600, the same on both nodes")
	case !filepath.IsAbs(c.SecretsFile):
		ps.Add("secrets_file", "%q must be an absolute path", c.SecretsFile)
	}
	if c.LagAlert < 0 {
		ps.Add("lag_alert", "%s must not be negative", c.LagAlert)
	}
	seen := map[string]bool{}
	for i, d := range c.Dirs {
		k := fmt.Sprintf("directories[%d]", i)
		switch {
		case !validName(d.Name):
			ps.Add(k+".name", "%q must be 1-63 lowercase letters, digits, \"_\", \".\" or \"-\" (the rsync module, the same on both nodes)", d.Name)
		case seen[d.Name]:
			ps.Add(k+".name", "%q is used twice", d.Name)
		}
		seen[d.Name] = true
		for _, p := range []struct{ key, path string }{{"source", d.Source}, {"destination", d.Destination}} {
			switch {
			case p.path == "" && p.key == "source":
				ps.Add(k+".source", "is required: the directory this node serves while primary")
			case p.path != "" && (!filepath.IsAbs(p.path) || filepath.Clean(p.path) == "/"):
				ps.Add(k+"."+p.key, "%q must be an absolute path below /", p.path)
			}
		}
		if d.BWLimit < 0 {
			ps.Add(k+".bwlimit", "%d must not be negative (0: no cap)", d.BWLimit)
		}
		if d.Interval < 0 {
			ps.Add(k+".interval", "%s must not be negative", d.Interval)
		} else if d.Interval > 0 && d.Interval < time.Second {
			ps.Add(k+".interval", "%s must be at least 1s", d.Interval)
		}
		if strings.ContainsAny(d.Marker, "/\x00") || d.Marker == "." || d.Marker == ".." {
			ps.Add(k+".marker", "%q must be a file name in the source directory, without a slash", d.Marker)
		}
		for j, e := range d.Exclude {
			if e == "" || strings.ContainsAny(e, "\r\n") {
				ps.Add(fmt.Sprintf("%s.exclude[%d]", k, j), "%q must be one rsync pattern on one line", e)
			}
		}
	}
	return ps
}
