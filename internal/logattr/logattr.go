// Package logattr is a slog.Handler wrapper that keeps one value per key: a
// key added again by With (a package adding "component" to a logger that
// has one) or in a record (a "node" the logger already carries) replaces
// the earlier value instead of repeating the key, so that every JSON line
// has unique keys, as strict log shippers require.
package logattr

import (
	"context"
	"log/slog"
	"slices"
)

// Handler keeps the attributes added by With itself and hands the inner
// handler one value per key. Groups are passed through: keys inside a
// group are not compared with those outside. It is safe for concurrent use
// when the inner handler is.
type Handler struct {
	base  slog.Handler // the inner handler without this Handler's attrs
	attrs []slog.Attr  // With attributes, one per key, in the order first added
	inner slog.Handler // base.WithAttrs(attrs), built once
}

// New wraps h.
func New(h slog.Handler) *Handler { return &Handler{base: h, inner: h} }

// Enabled reports whether the inner handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// WithAttrs returns a Handler whose attributes are h's with as merged in:
// a key already present takes the new value in its old place.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	merged := merge(h.attrs, as)
	return &Handler{base: h.base, attrs: merged, inner: h.base.WithAttrs(merged)}
}

// WithGroup starts a group: attributes from here on are the group's, and
// h's own are fixed in the inner handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	g := h.inner.WithGroup(name)
	return &Handler{base: g, inner: g}
}

// Handle passes r on. A record attribute whose key the With attributes
// already have replaces that value (and of keys repeated within the record,
// the last wins).
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	var rec []slog.Attr
	clash := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "" && (has(h.attrs, a.Key) || has(rec, a.Key)) {
			clash = true
		}
		rec = append(rec, a)
		return true
	})
	if !clash {
		return h.inner.Handle(ctx, r)
	}
	var keep []slog.Attr
	for _, a := range h.attrs {
		if !has(rec, a.Key) {
			keep = append(keep, a)
		}
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(merge(nil, rec)...)
	return h.base.WithAttrs(keep).Handle(ctx, out)
}

// merge returns old with each attribute of add put in: replacing the value
// of a key old has, else appended.
func merge(old, add []slog.Attr) []slog.Attr {
	out := slices.Clone(old)
	for _, a := range add {
		if i := slices.IndexFunc(out, func(o slog.Attr) bool { return o.Key == a.Key }); i >= 0 && a.Key != "" {
			out[i] = a
			continue
		}
		out = append(out, a)
	}
	return out
}

func has(as []slog.Attr, key string) bool {
	return slices.ContainsFunc(as, func(a slog.Attr) bool { return a.Key == key })
}
