package sipcheck

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// libraryHandler hands sipgo's records to pbxha's logger at Debug level:
// sipgo logs routine events (late retransmissions, connection reference
// counts, a "ref went negative" warning on close) at Info and Warn, which
// would drown an operator's log. The record keeps its message and attributes
// and gains lib=sipgo; the original level is kept as sipgo_level.
type libraryHandler struct {
	next slog.Handler
}

func newLibraryLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return slog.New(libraryHandler{next: l.Handler()}).With("lib", "sipgo")
}

func (h libraryHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.next.Enabled(ctx, slog.LevelDebug)
}

func (h libraryHandler) Handle(ctx context.Context, r slog.Record) error {
	d := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
	if r.Level != slog.LevelDebug {
		d.AddAttrs(slog.String("sipgo_level", r.Level.String()))
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			a.Key = "err" // pbxha's fixed key
		}
		d.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, d)
}

func (h libraryHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return libraryHandler{next: h.next.WithAttrs(as)}
}

func (h libraryHandler) WithGroup(name string) slog.Handler {
	return libraryHandler{next: h.next.WithGroup(name)}
}

// libraryLog is the one piece of package-level state in sipcheck. It mirrors
// a global of sipgo itself: sip.SetDefaultLogger sets a plain package
// variable that sipgo's connection goroutines read without a lock, so it may
// be written only once, before sipgo runs. RouteLibraryLogs installs a
// forwarding logger there exactly once and afterwards only swaps the
// destination atomically, which is race-free.
var libraryLog struct {
	once sync.Once
	dst  atomic.Pointer[slog.Logger]
}

// RouteLibraryLogs sends the records sipgo writes through its package-level
// logger (connection reference counting, lazy header parse failures, the
// harmless "ref went negative" warning on close) to l at Debug level. Every
// Prober already routes its own sipgo layers to the logger given to New; this
// covers the rest. Call it at program start; later calls only change the
// destination. It is safe for concurrent use.
func RouteLibraryLogs(l *slog.Logger) {
	libraryLog.dst.Store(newLibraryLogger(l))
	libraryLog.once.Do(func() {
		sip.SetDefaultLogger(slog.New(forwardHandler{}))
	})
}

// forwardHandler sends records to whatever RouteLibraryLogs stored last.
type forwardHandler struct {
	attrs []slog.Attr
	group string
}

func (f forwardHandler) target() slog.Handler {
	h := libraryLog.dst.Load().Handler()
	if f.group != "" {
		h = h.WithGroup(f.group)
	}
	if len(f.attrs) > 0 {
		h = h.WithAttrs(f.attrs)
	}
	return h
}

func (f forwardHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return f.target().Enabled(ctx, l)
}

func (f forwardHandler) Handle(ctx context.Context, r slog.Record) error {
	return f.target().Handle(ctx, r)
}

func (f forwardHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return forwardHandler{attrs: append(f.attrs[:len(f.attrs):len(f.attrs)], as...), group: f.group}
}

func (f forwardHandler) WithGroup(name string) slog.Handler {
	if f.group != "" || len(f.attrs) > 0 {
		// Rare in sipgo; keep it correct by binding to the current target.
		return f.target().WithGroup(name)
	}
	return forwardHandler{group: name}
}
