package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	text := out.String()
	require.Contains(t, text, "ATTEMPT")
	require.Equal(t, 2, strings.Count(text, "delivery failed:"), text)

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
