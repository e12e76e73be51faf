package portal_test

import (
	"io"
	"log/slog"
)

// discard returns a logger that drops everything.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
