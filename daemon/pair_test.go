package daemon

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/configs"
)

func takeoverESLConfig(addr, password, passwordFile string, cmds ...string) *configs.Config {
	return &configs.Config{
		Source: "pbxha.yaml", Node: configs.Node{Name: "node-b"},
		Probes: configs.Probes{ESL: []configs.ESLProbe{{Address: addr, Password: password, PasswordFile: passwordFile}}},
		PBX:    configs.PBX{TakeoverESL: cmds, TakeoverESLTimeout: 10 * time.Second},
	}
}

// TestNewESLCommands: no commands, no step; an unreadable password file
// stops the start naming the config file and key.
func TestNewESLCommands(t *testing.T) {
	if pc, err := newESLCommands(takeoverESLConfig("127.0.0.1:8021", "x", ""), slog.New(slog.DiscardHandler), nil); pc != nil || err != nil {
		t.Errorf("no commands: got %v, %v; want nil, nil", pc, err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := newESLCommands(takeoverESLConfig("127.0.0.1:8021", "", missing, "sofia recover"), slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "pbxha.yaml: probes.esl[0].password_file: ") {
		t.Errorf("got %v, want the config file and key of the unreadable password file", err)
	}
}
