package portal_test

import (
	"io"
	"log/slog"
	"strconv"
)

// discard returns a logger that drops everything.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// itoa is strconv.Itoa.
func itoa(n int) string { return strconv.Itoa(n) }
