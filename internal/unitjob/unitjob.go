// Package unitjob tells whether systemd is restarting the unit this process
// runs in — `systemctl restart`, or a package upgrade's restart — as
// opposed to stopping it (`systemctl stop`, a shutdown): a primary that
// restarts keeps its role, one that stops hands the service over.
package unitjob

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
)

// restartJobs are the systemd job types that start the unit again after
// stopping it.
var restartJobs = map[string]bool{"restart": true, "try-restart": true, "reload-or-restart": true, "try-reload-or-restart": true}

// Unit returns the systemd service unit of the process's cgroup, from the
// contents of /proc/self/cgroup ("0::/system.slice/pbxha.service"), or ""
// when it runs in none (not under systemd, or in a scope or session).
func Unit(cgroup []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cgroup))
	for sc.Scan() {
		// hierarchy-ID:controllers:path; the unified hierarchy is "0::".
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || (parts[0] != "0" && !strings.Contains(parts[1], "name=systemd")) {
			continue
		}
		for dir := parts[2]; dir != "/" && dir != "." && dir != ""; dir = path.Dir(dir) {
			if base := path.Base(dir); strings.HasSuffix(base, ".service") {
				return base
			}
		}
	}
	return ""
}

// Restarting reports whether the output of `systemctl list-jobs
// --no-legend` lists a restart job of unit. Each line is "ID UNIT TYPE
// STATE"; lines that do not look like that are skipped.
func Restarting(listJobs []byte, unit string) bool {
	sc := bufio.NewScanner(bytes.NewReader(listJobs))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[1] == unit && restartJobs[f[2]] {
			return true
		}
	}
	return false
}

// Check reports whether systemd is restarting this process's unit now,
// and which unit it is ("" when the process runs in none: then it is never
// restarting). It runs systemctl, bounded by ctx.
func Check(ctx context.Context, systemctl string) (restarting bool, unit string, err error) {
	return check(ctx, "/proc/self/cgroup", systemctl)
}

func check(ctx context.Context, cgroupFile, systemctl string) (restarting bool, unit string, err error) {
	cg, err := os.ReadFile(cgroupFile)
	if err != nil {
		return false, "", fmt.Errorf("unitjob: read %s: %w", cgroupFile, err)
	}
	if unit = Unit(cg); unit == "" {
		return false, "", nil
	}
	if systemctl == "" {
		systemctl = "systemctl"
	}
	out, err := exec.CommandContext(ctx, systemctl, "list-jobs", "--no-legend", "--no-pager").Output()
	if err != nil {
		return false, unit, fmt.Errorf("unitjob: %s list-jobs for %s: %w", systemctl, unit, err)
	}
	return Restarting(out, unit), unit, nil
}
