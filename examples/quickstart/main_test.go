package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The first run delivers and explains each outcome, shows a signed request
// once, and prints a table that fits 80 columns; the second sends nothing
// again and shows the first run's trail; -json prints the records in full.
func TestRunTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quickstart.db")
	for i := 1; i <= 3; i++ {
		db, err := openDB(path, "")
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), db, &out, i == 3))
		require.NoError(t, db.Close())
		text := out.String()
		if i == 1 {
			require.Equal(t, 2, strings.Count(text, ", delivered\n"), text)
			require.Equal(t, 2, strings.Count(text, ", failed; retry #2 due at "), text)
			require.Contains(t, text, "webhook-signature: v1,")
			require.Contains(t, text, `{"invoice":1001,"amount":4200}`)
			require.NotContains(t, text, "delivery: delivery:")
		} else {
			require.Equal(t, 4, strings.Count(text, "enqueued before, so not sent again"), text)
			require.NotContains(t, text, "as the receiver saw it", "nothing was sent")
		}
		if i == 3 {
			var attempts []map[string]any
			require.NoError(t, json.Unmarshal([]byte(text[strings.Index(text, "\n["):]), &attempts))
			require.Len(t, attempts, 6, "four first attempts and two pending retries")
			continue
		}
		table := text[strings.Index(text, "EVENT"):]
		require.Equal(t, 6, strings.Count(table, "\nevt_"), "four first attempts and two pending retries:\n%s", table)
		for line := range strings.Lines(text) {
			require.LessOrEqual(t, len([]rune(strings.TrimRight(line, "\n"))), 80, "a line wider than 80 columns: %q", line)
		}
	}
}
