package failover

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadKeyFIFO: a FIFO at the key path is refused at once, not read
// until some writer comes (which hung the start and ignored SIGTERM).
func TestLoadKeyFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peer.key")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadKey(path); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
			t.Errorf("got %v, want an error naming %s as a FIFO, not a regular file", err, path)
		}
	case <-time.After(5 * time.Second):
		// Unblock the open so the goroutine ends with the test.
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("LoadKey on a FIFO still blocked after 5s, want an error at once")
	}
}
