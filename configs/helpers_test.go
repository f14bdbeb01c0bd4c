package configs

import (
	"os"
	"strings"
	"testing"
)

// cleanEnv removes every PBXHA_ variable for the duration of the test, so
// that the runner's environment cannot change what a test loads.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// plain returns c without the bookkeeping that differs between two loads of
// the same settings (source, env list, origins), for comparisons.
func plain(c *Config) Config {
	p := *c
	p.Source, p.Env, p.origins = "", nil, nil
	return p
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	return c
}
