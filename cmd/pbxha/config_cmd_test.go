package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/configs"
)

// clearPBXHAEnv removes PBXHA_ variables for the test, so the runner's
// environment cannot change what is loaded.
func clearPBXHAEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, configs.EnvPrefix) {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// runConfig runs `pbxha config ARGS` with -c path and returns stdout,
// stderr and the exit code the root command would use.
func runConfig(t *testing.T, path string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{configPath: path, stdout: &out, stderr: &errOut}
	cmd := newConfigCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	code := exitOK
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err != nil {
			errOut.WriteString("pbxha: " + ee.err.Error() + "\n")
		}
	case err != nil:
		t.Fatalf("got error %v (%T), want nil or *exitError", err, err)
	}
	return out.String(), errOut.String(), code
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pbxha.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheck(t *testing.T) {
	clearPBXHAEnv(t)
	valid := writeFile(t, "probes:\n  sip:\n    - target: sip:127.0.0.1:5060\n")
	invalid := "../../configs/testdata/invalid-timeout-interval.yaml"
	golden, err := os.ReadFile("../../configs/testdata/invalid-timeout-interval.err")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		wantOut  string
		wantErr  string
		wantCode int
	}{
		{name: "valid", path: valid, wantOut: valid + ": ok\n", wantCode: exitOK},
		{name: "invalid", path: invalid, wantErr: strings.ReplaceAll(string(golden), "testdata/", "../../configs/testdata/") + "pbxha: config check: 4 problem(s) found\n", wantCode: exitUsage},
		{name: "missing", path: "/nonexistent/pbxha.yaml",
			wantErr: "/nonexistent/pbxha.yaml: cannot read: no such file or directory\npbxha: config check: 1 problem(s) found\n", wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runConfig(t, tt.path, "check")
			if out != tt.wantOut || errOut != tt.wantErr || code != tt.wantCode {
				t.Errorf("got stdout %q stderr %q code %d, want %q %q %d", out, errOut, code, tt.wantOut, tt.wantErr, tt.wantCode)
			}
		})
	}
}

func TestConfigCheckEnv(t *testing.T) {
	clearPBXHAEnv(t)
	valid := writeFile(t, "probes:\n  sip:\n    - target: sip:127.0.0.1:5060\n")
	t.Setenv("PBXHA_LOG_FROMAT", "json")
	t.Setenv("PBXHA_PROBES_SIP_0_TIMEOUT", "5")
	_, errOut, code := runConfig(t, valid, "check")
	want := "env PBXHA_LOG_FROMAT: names no config key; see `pbxha config default` for the keys (write PBXHA_SECTION_KEY, or PBXHA_PROBES_KIND_INDEX_KEY for a probe)\n" +
		"env PBXHA_PROBES_SIP_0_TIMEOUT: probes.sip[0].timeout: 5 is not a duration; write it with a unit, e.g. \"5s\"\n" +
		"pbxha: config check: 2 problem(s) found\n"
	if errOut != want || code != exitUsage {
		t.Errorf("got stderr\n%s\ncode %d, want\n%s\ncode %d", errOut, code, want, exitUsage)
	}
}

func TestConfigShow(t *testing.T) {
	clearPBXHAEnv(t)
	path := writeFile(t, `probes:
  sip:
    - target: sip:127.0.0.1:5060
  esl:
    - password: ClueCon
  pg:
    - dsn: postgres://pbxha:s3cret@127.0.0.1/pbx
`)
	t.Setenv("PBXHA_LOG_FORMAT", "json")
	t.Setenv("PBXHA_PROBES_SIP_0_TIMEOUT", "150ms")
	out, errOut, code := runConfig(t, path, "show")
	if code != exitOK || errOut != "" {
		t.Fatalf("got code %d stderr %q, want 0 and nothing", code, errOut)
	}
	for _, want := range []string{
		"# effective configuration from " + path + "\n",
		"# environment overrides: PBXHA_LOG_FORMAT, PBXHA_PROBES_SIP_0_TIMEOUT\n",
		"format: json\n", "timeout: 150ms\n", "interval: 2s\n", "table: pbxha_heartbeat\n",
		"password: REDACTED\n", "postgres://pbxha:REDACTED@127.0.0.1/pbx",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("got\n%s\nwant it to contain %q", out, want)
		}
	}
	for _, secret := range []string{"ClueCon", "s3cret"} {
		if strings.Contains(out, secret) {
			t.Errorf("got the secret %q in\n%s", secret, out)
		}
	}
	// What show prints is a config file: it loads, and gives the same values.
	clearPBXHAEnv(t)
	c, err := configs.Parse("shown.yaml", []byte(out))
	if err != nil {
		t.Fatalf("shown config does not load: %v", err)
	}
	if c.Log.Format != "json" || c.Probes.SIP[0].Timeout.String() != "150ms" {
		t.Errorf("got format %q timeout %s, want json 150ms", c.Log.Format, c.Probes.SIP[0].Timeout)
	}
}

func TestConfigShowInvalid(t *testing.T) {
	clearPBXHAEnv(t)
	out, errOut, code := runConfig(t, "../../configs/testdata/invalid-bare-duration.yaml", "show")
	want := "pbxha: invalid configuration:\n" +
		"../../configs/testdata/invalid-bare-duration.yaml: probes.sip[0].interval: 1.5 is not a duration; write it with a unit, e.g. \"1.5s\"\n" +
		"../../configs/testdata/invalid-bare-duration.yaml: probes.sip[0].timeout: 5 is not a duration; write it with a unit, e.g. \"5s\"\n"
	if out != "" || errOut != want || code != exitUsage {
		t.Errorf("got stdout %q stderr\n%s\ncode %d, want nothing, \n%s\ncode %d", out, errOut, code, want, exitUsage)
	}
}

func TestConfigDefault(t *testing.T) {
	clearPBXHAEnv(t)
	out, errOut, code := runConfig(t, "", "default")
	if code != exitOK || errOut != "" {
		t.Fatalf("got code %d stderr %q, want 0 and nothing", code, errOut)
	}
	if out != string(configs.Default()) {
		t.Errorf("got\n%s\nwant the embedded default verbatim", out)
	}
	if !strings.Contains(out, "# esl:") || !strings.Contains(out, "target: sip:127.0.0.1:5060;transport=udp") {
		t.Errorf("got\n%s\nwant the commented examples and the sip probe", out)
	}
	// The printed file is a valid starting file.
	if _, err := configs.Parse("default.yaml", []byte(out)); err != nil {
		t.Errorf("printed default does not load: %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	clearPBXHAEnv(t)
	g := &globals{configPath: "../../configs/pbxha.example.yaml"}
	c, err := loadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.Name != "node-a" || len(c.Probes.ESL) != 1 {
		t.Errorf("got node %q with %d esl probes, want node-a with 1", c.Node.Name, len(c.Probes.ESL))
	}
	g.configPath = "../../configs/testdata/invalid-no-probes.yaml"
	_, err = loadConfig(g)
	var ee *exitError
	var ce *configs.Error
	if !errors.As(err, &ee) || ee.code != exitUsage || !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Errorf("got %v, want an exit-2 error wrapping *configs.Error with 1 problem", err)
	}
}
