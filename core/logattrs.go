package core

import (
	"context"
	"log/slog"
	"sync"
)

// LineAttrs collects what the actions behind a delivery add to its one log
// line (the receiver's "delivery" line, the queue worker's "task" line),
// so that a delivery costs one line however many actions it passes.
type LineAttrs struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

type lineAttrsKey struct{}

// WithLineAttrs returns ctx carrying a fresh LineAttrs for one delivery's
// line; the line's writer reads it back with Attrs.
func WithLineAttrs(ctx context.Context) (context.Context, *LineAttrs) {
	la := &LineAttrs{}
	return context.WithValue(ctx, lineAttrsKey{}, la), la
}

// AddLineAttrs adds attrs to the log line of the delivery ctx belongs to,
// replacing earlier ones of the same key; without one it does nothing.
func AddLineAttrs(ctx context.Context, attrs ...slog.Attr) {
	la, _ := ctx.Value(lineAttrsKey{}).(*LineAttrs)
	if la == nil {
		return
	}
	la.mu.Lock()
	defer la.mu.Unlock()
next:
	for _, a := range attrs {
		for i := range la.attrs {
			if la.attrs[i].Key == a.Key {
				la.attrs[i] = a
				continue next
			}
		}
		la.attrs = append(la.attrs, a)
	}
}

// Attrs returns what was added (nil for a nil LineAttrs).
func (la *LineAttrs) Attrs() []slog.Attr {
	if la == nil {
		return nil
	}
	la.mu.Lock()
	defer la.mu.Unlock()
	return append([]slog.Attr(nil), la.attrs...)
}
