package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunAll(t *testing.T) {
	touch := func(name string) Hook {
		return Hook{Name: name, Command: []string{"sh", "-c", `echo "$PBXHA_EVENT" > "$DIR/` + name + `"`}}
	}
	fail := Hook{Name: "fail", Command: []string{"sh", "-c", "echo cannot move eip >&2; exit 2"}}
	tests := []struct {
		name      string
		hooks     []Hook
		on        OnFailure
		wantRan   []string // hooks with a result, in order
		wantFiles []string // files the touch hooks created
		wantErr   []string // substrings; nil means success
	}{
		{"all succeed", []Hook{touch("a"), touch("b")}, StopAtFailure, []string{"a", "b"}, []string{"a", "b"}, nil},
		{"takeover stops at failure", []Hook{touch("a"), fail, touch("c")}, StopAtFailure,
			[]string{"a", "fail"}, []string{"a"}, []string{"exit status 2", "cannot move eip", "1 later hooks not run"}},
		{"release continues after failure", []Hook{touch("a"), fail, touch("c")}, ContinueAfterFailure,
			[]string{"a", "fail", "c"}, []string{"a", "c"}, []string{"exit status 2"}},
		{"no hooks", nil, StopAtFailure, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := Vars{Event: "release"}.Map()
			env["DIR"] = dir
			results, err := RunAll(context.Background(), tc.hooks, env, tc.on)
			var ran []string
			for _, r := range results {
				ran = append(ran, r.Name)
			}
			if strings.Join(ran, ",") != strings.Join(tc.wantRan, ",") {
				t.Errorf("ran: got %q, want %q", ran, tc.wantRan)
			}
			for _, f := range tc.wantFiles {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil || string(b) != "release\n" {
					t.Errorf("file %s: got %q, %v; want \"release\\n\"", f, b, err)
				}
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != len(tc.wantFiles) {
				t.Errorf("files: got %d, want %d", len(ents), len(tc.wantFiles))
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Errorf("RunAll: got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("RunAll: got nil, want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error: got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestRunAllDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results, err := RunAll(ctx, []Hook{{Name: "a", Command: []string{"true"}}}, nil, ContinueAfterFailure)
	if len(results) != 0 {
		t.Errorf("results: got %d, want 0", len(results))
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "1 of 1 hooks not run") {
		t.Errorf("error: got %v, want canceled with 1 of 1 hooks not run", err)
	}
}

func TestOnFailureString(t *testing.T) {
	for _, tc := range []struct {
		on   OnFailure
		want string
	}{{StopAtFailure, "stop"}, {ContinueAfterFailure, "continue"}, {OnFailure(7), "onfailure(7)"}} {
		if got := tc.on.String(); got != tc.want {
			t.Errorf("String(%d): got %q, want %q", int(tc.on), got, tc.want)
		}
	}
}
