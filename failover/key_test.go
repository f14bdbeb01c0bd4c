package failover

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peer.key")
	if err := GenerateKey(path); err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("got mode %04o, want 0600", got)
	}
	key, err := LoadKey(path)
	if err != nil {
		t.Fatalf("LoadKey of a generated key: %v", err)
	}
	if len(key) != MinKeySize {
		t.Errorf("got %d key bytes, want %d", len(key), MinKeySize)
	}
	before, _ := os.ReadFile(path)
	err = GenerateKey(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "exists") {
		t.Errorf("got %v generating over an existing key, want an error naming %s", err, path)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("got the key file changed by a refused GenerateKey, want it untouched")
	}
	other := filepath.Join(dir, "second.key")
	if err := GenerateKey(other); err != nil {
		t.Fatal(err)
	}
	if k2, _ := LoadKey(other); bytes.Equal(k2, key) {
		t.Errorf("got the same key twice, want random keys")
	}
	if err := GenerateKey(filepath.Join(dir, "missing", "x.key")); err == nil {
		t.Errorf("got no error writing into a missing directory, want one")
	}
}

func TestLoadKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xc3}, 32)
	long := bytes.Repeat([]byte{7}, 64)
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    []byte
		wantErr string
	}{
		{"hex with newline", hex.EncodeToString(raw) + "\n", 0o600, raw, ""},
		{"upper-case hex", strings.ToUpper(hex.EncodeToString(raw)), 0o400, raw, ""},
		{"base64 padded", base64.StdEncoding.EncodeToString(raw) + "\n", 0o600, raw, ""},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(raw), 0o600, raw, ""},
		{"longer key", hex.EncodeToString(long), 0o600, long, ""},
		{"surrounding space", "  " + hex.EncodeToString(raw) + "\r\n\n", 0o600, raw, ""},
		{"group readable", hex.EncodeToString(raw), 0o640, nil, "mode 0640 lets group or others access"},
		{"world readable", hex.EncodeToString(raw), 0o604, nil, "mode 0604"},
		{"short key", hex.EncodeToString(raw[:16]), 0o600, nil, "key is 16 bytes, want at least 32"},
		{"empty", "\n", 0o600, nil, "empty key"},
		{"not a key", "correct horse battery staple!", 0o600, nil, "neither hex nor base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "peer.key")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKey(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("got %v, want an error naming %s and containing %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadKey: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got key %x, want %x", got, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.key")
		if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("got %v, want an error naming %s", err, path)
		}
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		os.Chmod(dir, 0o700)
		if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("got %v, want a not-a-regular-file error", err)
		}
	})
}
