package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/failover"
)

func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pbxha.key")
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", path}, &out, &errb); code != 0 {
		t.Fatalf("got exit %d (%s), want 0", code, errb.String())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("got mode %o, want 600", fi.Mode().Perm())
	}
	if key, err := failover.LoadKey(path); err != nil || len(key) < failover.MinKeySize {
		t.Errorf("LoadKey: got %d bytes, %v; want a usable key", len(key), err)
	}
	errb.Reset()
	if code := run([]string{"keygen", path}, &out, &errb); code != exitFailure || !strings.Contains(errb.String(), path) {
		t.Errorf("second keygen: got exit %d %q, want 1 naming the file", code, errb.String())
	}
}
