// Package buildinfo says which pbxha a binary is: the release and the
// commit it was built from, as `pbxha version`, status, metrics and logs
// show them.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is the release, set at build time with -ldflags
// "-X github.com/pbxha/pbxha/internal/buildinfo.Version=1.2.0" (the Debian
// package build does). Left at dev, the main module's version from the
// build information is used when the go command recorded one.
var Version = "dev"

// Commit is the commit's hash when the build information has none: the go
// command records vcs.revision only in a plain clone, not in a git worktree,
// so packaging/deb/build.sh also passes -X …/buildinfo.Commit=HASH.
var Commit = ""

// String is the release and commit as status, metrics and logs show them:
// "1.2.0 (a1b2c3d4e5f6)".
func String() string {
	bi, _ := debug.ReadBuildInfo()
	rel, c := release(Version, Commit, bi)
	if c == "" {
		return rel
	}
	return rel + " (" + c + ")"
}

// Line is `pbxha version`'s line for this binary.
func Line() string {
	bi, _ := debug.ReadBuildInfo()
	return line(Version, Commit, bi)
}

// line is the release, the commit (with its time, and "modified" when the
// tree had uncommitted changes), the Go version and the platform.
func line(v, commit string, bi *debug.BuildInfo) string {
	rel, c := release(v, commit, bi)
	var b strings.Builder
	fmt.Fprintf(&b, "pbxha %s", rel)
	if c != "" {
		fmt.Fprintf(&b, " commit %s", c)
		if t := setting(bi, "vcs.time"); t != "" {
			fmt.Fprintf(&b, " (%s)", t)
		}
	} else {
		b.WriteString(" commit unknown")
	}
	goVersion := runtime.Version()
	if bi != nil && bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(&b, " %s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	if setting(bi, "CGO_ENABLED") == "0" {
		b.WriteString(" static")
	}
	return b.String()
}

// release returns the release (v, else the main module's version, else
// dev) and the commit's first 12 hex digits with "-modified" for a dirty
// tree: from the build information, else from commit ("" when neither has
// one).
func release(v, commit string, bi *debug.BuildInfo) (rel, rev string) {
	rel = v
	if bi != nil && rel == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		rel = strings.TrimPrefix(bi.Main.Version, "v")
	}
	rev = setting(bi, "vcs.revision")
	modified := setting(bi, "vcs.modified") == "true"
	if rev == "" {
		rev, modified = strings.CutSuffix(commit, "-modified")
	}
	if rev == "" {
		return rel, ""
	}
	rev = rev[:min(12, len(rev))]
	if modified {
		rev += "-modified"
	}
	return rel, rev
}

// setting is the build setting key, or "".
func setting(bi *debug.BuildInfo, key string) string {
	if bi == nil {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
