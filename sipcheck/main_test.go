package sipcheck

import (
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Once, before any sipgo code runs (see RouteLibraryLogs).
	RouteLibraryLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
