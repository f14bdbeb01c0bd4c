package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/configs"
)

// TestExamplesPassConfigCheck loads every example for a real stack
// (configs/pbxha.example.yaml and configs/examples/*.yaml): as written, every
// rule of every key holds (configs.Load); and `pbxha config check` prints
// ok once the host-specific parts are this machine's — the files under
// /etc/pbxha made in a temporary folder (the key by pbxha keygen), the
// heartbeat's local addresses on loopback, the PBX's user root — as an
// operator adapts them to a server.
func TestExamplesPassConfigCheck(t *testing.T) {
	clearPBXHAEnv(t)
	files, err := filepath.Glob("../../configs/examples/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("configs/examples: got %d files (%v), want the stacks", len(files), err)
	}
	files = append(files, "../../configs/pbxha.example.yaml")
	etc := filepath.Join(t.TempDir(), "etc", "pbxha")
	if err := os.MkdirAll(etc, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI("keygen", filepath.Join(etc, "pbxha.key")); code != exitOK {
		t.Fatalf("keygen: %s", errOut)
	}
	for _, f := range []string{"esl.password", "ami.secret", "webhook.key"} {
		if err := os.WriteFile(filepath.Join(etc, f), []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	localRE := regexp.MustCompile(`local: "[0-9.]+:(\d+)"`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := configs.Load(f); err != nil {
				t.Fatalf("as written: %v", err)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(b), "/etc/pbxha/", etc+"/")
			n := 0
			text = localRE.ReplaceAllStringFunc(text, func(m string) string {
				n++
				return fmt.Sprintf(`local: "127.0.0.%d:%s"`, n, localRE.FindStringSubmatch(m)[1])
			})
			text = strings.NewReplacer("user: freeswitch", "user: root", "group: freeswitch", "group: root").Replace(text)
			adapted := filepath.Join(t.TempDir(), filepath.Base(f))
			if err := os.WriteFile(adapted, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := runCLI("config", "check", adapted)
			if code != exitOK || out != adapted+": ok\n" {
				t.Errorf("config check: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
