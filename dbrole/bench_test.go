package dbrole

import (
	"context"
	"testing"

	"github.com/pbxha/pbxha/test/pgtest"
)

// BenchmarkRole measures one role reading on a real server: a new
// connection and one query, what Promote and Demote pay before and after
// each step.
func BenchmarkRole(b *testing.B) {
	p := pgtest.StartPrimary(b, pgtest.Options{})
	m, err := New(Config{DSN: p.DSN(), StopCommand: []string{"false"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if r, err := m.Role(ctx); err != nil || r != RolePrimary {
			b.Fatalf("Role: got %s, %v; want primary", r, err)
		}
	}
}
