package delivery

import (
	"context"
	"log/slog"
)

// minLevel is a slog.Handler that passes h the records at level and
// above: the default Logger's, which shows the errors that lose or stall
// work through the host's default handler, and nothing routine.
type minLevel struct {
	h     slog.Handler
	level slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.level && m.h.Enabled(ctx, l)
}

func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }

func (m minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{m.h.WithAttrs(attrs), m.level}
}

func (m minLevel) WithGroup(name string) slog.Handler { return minLevel{m.h.WithGroup(name), m.level} }
