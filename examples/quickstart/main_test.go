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

// Two runs on one SQLite file: the first delivers, the second sends nothing
// again and shows the first run's trail.
func TestRunTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quickstart.db")
	for i := 1; i <= 2; i++ {
		db, err := openDB(path, "")
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), db, &out))
		require.NoError(t, db.Close())
		text := out.String()
		if i == 2 {
			require.Equal(t, 4, strings.Count(text, "delivered before, not sent again"), text)
			require.NotContains(t, text, "delivery failed:")
			require.NotContains(t, text, "This run's", "nothing was sent")
			require.Equal(t, 4, strings.Count(text[strings.Index(text, "ATTEMPT"):], "evt_"), "the first run's trail:\n%s", text)
			continue
		}
		require.Equal(t, 2, strings.Count(text, "delivery failed:"), text)
		table := text[strings.Index(text, "ATTEMPT"):strings.Index(text, "This run's")]
		require.Equal(t, 4, strings.Count(table, "evt_"), "the table lists the attempts:\n%s", table)

		var attempts []map[string]any
		require.NoError(t, json.Unmarshal([]byte(text[strings.Index(text, "\n["):]), &attempts))
		require.Len(t, attempts, 4)
		var statuses []any
		for _, a := range attempts {
			statuses = append(statuses, a["status"])
		}
		require.Equal(t, []any{"success", "success", "failure", "failure"}, statuses)
		require.EqualValues(t, 401, attempts[3]["response_status_code"])
	}
}
