package sipcheck

import (
	"encoding/hex"
	"sync"
	"testing"
)

func TestIDs(t *testing.T) {
	a, b := newIDs(), newIDs()
	seen := map[string]bool{}
	for i := range 1000 {
		h := a.hex(24)
		if len(h) != 24 {
			t.Fatalf("hex(24) = %q: got %d characters, want 24", h, len(h))
		}
		if _, err := hex.DecodeString(h); err != nil {
			t.Fatalf("hex(24) = %q: %v", h, err)
		}
		if seen[h] {
			t.Fatalf("hex(24) repeated %q after %d draws", h, i)
		}
		seen[h] = true
		if c := a.cseq(); c < 10000 || c > 0x7fff {
			t.Fatalf("cseq() = %d, want 10000..32767 (five digits)", c)
		}
	}
	// Each prober has its own key: two never draw the same sequence.
	if x, y := newIDs().hex(32), b.hex(32); x == y {
		t.Errorf("two generators drew the same Call-ID %q", x)
	}
}

func TestIDsConcurrent(t *testing.T) {
	s := newIDs()
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				h := s.hex(16)
				mu.Lock()
				if seen[h] {
					t.Errorf("hex(16) repeated %q across goroutines", h)
				}
				seen[h] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
