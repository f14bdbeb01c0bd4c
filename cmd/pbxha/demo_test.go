package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemoShowsDetectionAndRecovery runs the shortest demo: the embedded
// default config must see the test PBX hang and recover.
func TestDemoShowsDetectionAndRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes 10s")
	}
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "--duration", "10s"}, &out, &errb); code != 0 {
		t.Fatalf("got exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{
		"embedded default config",
		"the test PBX hangs now",
		"from=ok to=failed",
		"the test PBX recovers",
		"from=failed to=ok",
		"final status",
		"health healthy",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "from=ok to=failed") > strings.Index(text, "from=failed to=ok") {
		t.Errorf("recovery logged before detection:\n%s", text)
	}
}

func TestDemoRejectsShortDuration(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "--duration", "2s"}, &out, &errb); code != exitUsage {
		t.Errorf("got exit %d, want %d", code, exitUsage)
	}
}
