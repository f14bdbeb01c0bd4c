package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestProbeExecCmd(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	okPlugin := write("check_ok", `echo "OK - $1 $PBXHA_TEST_ENV|calls=3;10;20;0 rta=2ms"; exit 0`)
	warnPlugin := write("check_warn", `echo "WARNING - trunk slow"; exit 1`)
	slowPlugin := write("check_slow", `sleep 300`)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"ok with perfdata, plugin flags after the command", []string{"--env", "PBXHA_TEST_ENV=set", okPlugin, "-n", "5"}, exitOK,
			`^check_ok seq=1 ok OK - -n set time=[0-9.]+ ms calls=3 rta=0\.002\n--- check_ok ---\n1 sent, 1 answered, 1 passed, 0% loss, rtt min/avg/max = [0-9./]+ ms\n$`},
		{"warning exits 1", []string{"-n", "2", "-i", "0s", warnPlugin}, exitFailure,
			`^check_warn seq=1 degraded WARNING - trunk slow time=[0-9.]+ ms\ncheck_warn seq=2 degraded WARNING - trunk slow time=[0-9.]+ ms\n--- check_warn ---\n2 sent, 2 answered, 0 passed, 0% loss`},
		{"timeout", []string{"-t", "200ms", slowPlugin}, exitFailure,
			`^check_slow seq=1 failed no verdict in time, process group killed \(timeout: exec: .*check_slow: no exit within \d+ms: context deadline exceeded\)\n`},
		{"not found", []string{filepath.Join(dir, "missing")}, exitFailure,
			`^missing seq=1 failed cannot run \(config: exec: start .*missing: .*no such file or directory\)\n`},
		{"no command", nil, exitUsage, `^$`},
		{"bad env", []string{"--env", "NOEQUALS", okPlugin}, exitUsage, `^$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runOneShotCmd(t, newProbeExecCmd, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (output %q)", code, tt.wantCode, out)
			}
			if !regexp.MustCompile(tt.wantOut).MatchString(out) {
				t.Errorf("output: got %q, want match for %q", out, tt.wantOut)
			}
		})
	}
}
