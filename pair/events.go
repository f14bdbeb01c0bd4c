package pair

import (
	"context"
	"log/slog"

	"github.com/pbxha/pbxha/event"
)

// logged wraps the pair's event sink so that the takeovers the failover
// node reports only as events reach the log too, at a level `journalctl -p
// warning` shows: a failover at WARN, a switchover at INFO.
func logged(next func(event.Event), log *slog.Logger) func(event.Event) {
	return func(e event.Event) {
		switch e.Kind {
		case event.Failover, event.Switchover:
			level := slog.LevelInfo
			if e.Severity >= event.Warning {
				level = slog.LevelWarn
			}
			args := []any{"event", e.Kind}
			for _, k := range []string{"epoch", "reason", "ready_ms"} {
				if v, ok := e.Details[k]; ok {
					args = append(args, k, v)
				}
			}
			log.Log(context.Background(), level, e.Summary, args...)
		}
		if next != nil {
			next(e)
		}
	}
}
