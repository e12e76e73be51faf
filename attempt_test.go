package delivery_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

func TestStatusText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status delivery.Status
		word   string
		value  int64
	}{
		{delivery.StatusSuccess, "success", 0},
		{delivery.StatusFailure, "failure", 1},
		{delivery.StatusPending, "pending", 2},
		{delivery.StatusCanceled, "canceled", 3},
	}
	for _, tt := range tests {
		require.Equal(t, tt.word, tt.status.String())
		text, err := tt.status.MarshalText()
		require.NoError(t, err)
		require.Equal(t, tt.word, string(text))
		js, err := json.Marshal(tt.status)
		require.NoError(t, err)
		require.Equal(t, `"`+tt.word+`"`, string(js))
		v, err := tt.status.Value()
		require.NoError(t, err)
		require.Equal(t, tt.value, v)
	}
}

func TestStatusParse(t *testing.T) {
	t.Parallel()
	good := map[string]delivery.Status{
		`"success"`:   delivery.StatusSuccess,
		`"FAILURE"`:   delivery.StatusFailure,
		`"Pending"`:   delivery.StatusPending,
		`"canceled"`:  delivery.StatusCanceled,
		`"cancelled"`: delivery.StatusCanceled,
		`"CANCELLED"`: delivery.StatusCanceled,
		`0`:           delivery.StatusSuccess,
		`3`:           delivery.StatusCanceled,
	}
	for in, want := range good {
		var s delivery.Status
		require.NoError(t, json.Unmarshal([]byte(in), &s), in)
		require.Equal(t, want, s, in)
	}
	for _, in := range []string{`"succes"`, `""`, `" success"`, `"2"`, `4`, `-1`, `1.0`, `null`, `true`, `{}`, `"canceledd"`} {
		s := delivery.StatusPending
		require.Error(t, json.Unmarshal([]byte(in), &s), in)
		require.Equal(t, delivery.StatusPending, s, "a failed unmarshal leaves the status alone")
	}
	_, err := delivery.ParseStatus("unknown")
	require.ErrorContains(t, err, `unknown status "unknown"`)
}

func TestStatusUndefined(t *testing.T) {
	t.Parallel()
	bad := delivery.Status(9)
	require.False(t, bad.Valid())
	require.Equal(t, "Status(9)", bad.String())
	_, err := bad.MarshalText()
	require.Error(t, err)
	_, err = json.Marshal(bad)
	require.Error(t, err)
	_, err = bad.Value()
	require.Error(t, err)
}

func TestStatusScan(t *testing.T) {
	t.Parallel()
	good := []struct {
		src  any
		want delivery.Status
	}{
		{int64(0), delivery.StatusSuccess},
		{int64(3), delivery.StatusCanceled},
		{[]byte("1"), delivery.StatusFailure},
		{"2", delivery.StatusPending},
	}
	for _, tt := range good {
		var s delivery.Status
		require.NoError(t, s.Scan(tt.src), "%#v", tt.src)
		require.Equal(t, tt.want, s)
	}
	for _, src := range []any{nil, int64(4), int64(-1), []byte("x"), "success", 1.5, true} {
		var s delivery.Status
		require.Error(t, s.Scan(src), "%#v", src)
	}
}

// Every defined status survives every encoding; every undefined one is
// refused by all of them.
func TestStatusRoundTripProperty(t *testing.T) {
	t.Parallel()
	law := func(n int8) bool {
		s := delivery.Status(n)
		js, jerr := json.Marshal(s)
		v, verr := s.Value()
		if !s.Valid() {
			return jerr != nil && verr != nil
		}
		var fromJSON, fromSQL delivery.Status
		return json.Unmarshal(js, &fromJSON) == nil && fromJSON == s &&
			fromSQL.Scan(v) == nil && fromSQL == s
	}
	require.NoError(t, quick.Check(law, &quick.Config{MaxCount: 1000}))
}

func TestAttemptJSON(t *testing.T) {
	t.Parallel()
	a := delivery.Attempt{
		ID:                 "01J0000000000000000000000A",
		EventID:            "evt_1",
		EventType:          "invoice.paid",
		EndpointID:         "ep_1",
		EndpointURL:        "https://example.com/hook",
		Status:             delivery.StatusFailure,
		AttemptNumber:      2,
		Trigger:            delivery.TriggerRetry,
		Response:           "oops",
		ResponseStatusCode: 500,
		ResponseHeaders:    http.Header{"X-A": {"1", "2"}},
		AttemptedAt:        time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Duration:           1500 * time.Microsecond,
		ScheduledAt:        time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
	}
	js, err := json.Marshal(a)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(js, &fields))
	for _, name := range []string{"id", "event_id", "endpoint_id", "endpoint_url", "status", "response",
		"response_status_code", "response_headers", "attempted_at", "scheduled_at",
		"event_type", "attempt_number", "trigger", "response_truncated", "duration_ns"} {
		require.Contains(t, fields, name)
	}
	require.Equal(t, "failure", fields["status"])
	require.Equal(t, "2026-01-02T03:04:05.000006Z", fields["attempted_at"])
	require.Equal(t, map[string]any{"X-A": []any{"1", "2"}}, fields["response_headers"])

	var back delivery.Attempt
	require.NoError(t, json.Unmarshal(js, &back))
	require.Equal(t, a, back)

	a.AttemptedAt = time.Time{}
	a.Status = delivery.StatusPending
	js, err = json.Marshal(a)
	require.NoError(t, err)
	require.False(t, strings.Contains(string(js), "attempted_at"), "attempted_at is absent while not sent: %s", js)
}

func TestAttemptClone(t *testing.T) {
	t.Parallel()
	a := delivery.Attempt{ResponseHeaders: http.Header{"A": {"1"}}}
	c := a.Clone()
	c.ResponseHeaders["A"][0] = "2"
	c.ResponseHeaders.Add("B", "3")
	require.Equal(t, http.Header{"A": {"1"}}, a.ResponseHeaders)
}
