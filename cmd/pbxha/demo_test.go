package main

import (
	"bytes"
	"testing"
)

// TestDemoRejectsBadFlags checks the demo command's flags; the demo itself
// is tested in package demo.
func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--duration", "2s"}, {"--mode", "vm"}} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"demo"}, args...), &out, &errb); code != exitUsage {
			t.Errorf("demo %v: got exit %d, want %d", args, code, exitUsage)
		}
	}
}
