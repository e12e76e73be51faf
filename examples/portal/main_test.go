package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// The demo seeds a day of deliveries, serves both views, and every page
// answers.
func TestSmoke(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), "127.0.0.1:0", "", true, &out))
	text := out.String()
	require.Contains(t, text, "/acme/")
	require.Contains(t, text, "/ops/")
	require.Contains(t, text, "GET /ops/api/endpoints: 200 OK")
}
