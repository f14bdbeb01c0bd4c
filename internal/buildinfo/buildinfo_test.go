package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	built := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "CGO_ENABLED", Value: "0"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-03-01T12:00:00Z"},
	}}
	dirty := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"},
	}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name, v string
		bi      *debug.BuildInfo
		want    string
	}{
		{"release from ldflags, commit from build info", "1.2.0", built, "pbxha 1.2.0 commit 0123456789ab (2026-03-01T12:00:00Z) go1.26.8 " + platform + " static"},
		{"module version, modified tree", "dev", dirty, "pbxha 1.4.0 commit 0123456789ab-modified go1.26.8 " + platform},
		{"no build info", "dev", nil, "pbxha dev commit unknown " + runtime.Version() + " " + platform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := line(tc.v, "", tc.bi); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLineCommitFromLinker(t *testing.T) {
	if got, want := line("1.0.0", "fedcba9876543210fedcba-modified", nil), "pbxha 1.0.0 commit fedcba987654-modified "; !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want it to start with %q", got, want)
	}
}
