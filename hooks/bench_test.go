package hooks

import (
	"context"
	"testing"
)

// BenchmarkRun measures the cost of one hook run (fork, exec, wait) of a
// command that does nothing: the floor a takeover pays per hook.
func BenchmarkRun(b *testing.B) {
	h := Hook{Name: "true", Command: []string{"true"}}
	env := Vars{Event: "takeover", Node: "node-a", Role: "primary", Epoch: 7}.Map()
	for b.Loop() {
		if _, err := Run(context.Background(), h, env); err != nil {
			b.Fatal(err)
		}
	}
}
