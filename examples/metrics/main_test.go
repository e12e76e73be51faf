package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// The page shows every metric of the library, with the outcomes of the
// demo deliveries, and no endpoint URL or ID.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, ""))
	text := out.String()
	for _, want := range []string{
		`delivery_attempts_total{delivery_attempt_status="success",delivery_attempt_trigger="first",delivery_response_status_class="2xx"} 20`,
		`delivery_attempts_total{delivery_attempt_status="failure",delivery_attempt_trigger="first",delivery_response_status_class="5xx"} 10`,
		`http_client_request_duration_seconds_count{http_request_method="POST",http_response_status_code="200"} 20`,
		`http_client_request_duration_seconds_count{error_type="503",http_request_method="POST",http_response_status_code="503"} 10`,
		`http_client_active_requests{http_request_method="POST"} 0`,
		`delivery_claim_size_sum 30`,
		`delivery_queue_due 0`,
		`delivery_queue_lag_seconds 0`,
		`delivery_endpoints{delivery_endpoint_state="paused"} 1`,
	} {
		require.Contains(t, text, want)
	}
	require.NotContains(t, text, "127.0.0.1")
	require.NotContains(t, text, "ep_")
}
