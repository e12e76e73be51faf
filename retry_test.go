package delivery_test

import (
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"testing/quick"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

func failed(number, code int, header http.Header) delivery.Attempt {
	return delivery.Attempt{
		Status:             delivery.StatusFailure,
		AttemptNumber:      number,
		ResponseStatusCode: code,
		ResponseHeaders:    header,
		AttemptedAt:        time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func TestDefaultRetryPolicyOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		code    int
		sendErr error
		want    error // nil: retried
	}{
		{"500", 500, nil, nil},
		{"502", 502, nil, nil},
		{"503", 503, nil, nil},
		{"408", 408, nil, nil},
		{"429", 429, nil, nil},
		{"401 is fixable by the receiver", 401, nil, nil},
		{"403 is fixable by the receiver", 403, nil, nil},
		{"404 is fixable by the receiver", 404, nil, nil},
		{"connection refused", 0, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), nil},
		{"DNS failure", 0, errors.New("dial tcp: lookup hooks.example: no such host"), nil},
		{"timeout", 0, errors.New("attempt timed out"), nil},
		{"410 Gone", 410, nil, delivery.ErrEndpointGone},
		{"400", 400, nil, delivery.ErrNotRetryable},
		{"422", 422, nil, delivery.ErrNotRetryable},
		{"413", 413, nil, delivery.ErrNotRetryable},
		{"501", 501, nil, delivery.ErrNotRetryable},
		{"302 redirect", 302, nil, delivery.ErrNotRetryable},
		{"untrusted certificate", 0, x509.UnknownAuthorityError{}, delivery.ErrNotRetryable},
		{"wrong host certificate", 0, x509.HostnameError{Host: "x"}, delivery.ErrNotRetryable},
		{"unsupported scheme", 0, errors.New(`unsupported protocol scheme "ftp"`), delivery.ErrNotRetryable},
	}
	for _, tt := range tests {
		_, err := delivery.DefaultRetryPolicy(failed(1, tt.code, nil), tt.sendErr)
		if tt.want == nil {
			require.NoError(t, err, tt.name)
		} else {
			require.ErrorIs(t, err, tt.want, tt.name)
		}
	}
}

func TestDefaultRetryPolicySchedule(t *testing.T) {
	t.Parallel()
	require.Len(t, delivery.DefaultDelays(), 7)
	for n := 1; n < 8; n++ {
		want := delivery.DefaultDelays()[n-1]
		for range 50 {
			d, err := delivery.DefaultRetryPolicy(failed(n, 500, nil), nil)
			require.NoError(t, err)
			require.GreaterOrEqual(t, d, want*8/10, "attempt %d", n)
			require.LessOrEqual(t, d, want*12/10, "attempt %d", n)
		}
	}
	_, err := delivery.DefaultRetryPolicy(failed(8, 500, nil), nil)
	require.ErrorIs(t, err, delivery.ErrRetriesExhausted, "8 attempts in all")
	d, err := delivery.DefaultRetryPolicy(failed(1, 500, nil), nil)
	require.NoError(t, err)
	require.InDelta(t, float64(5*time.Second), float64(d), float64(time.Second), "the second attempt follows 5 s after the first")
}

// For every attempt number and status, the delay lies within the jittered
// schedule and never exceeds the largest step.
func TestDefaultRetryPolicyBoundsProperty(t *testing.T) {
	t.Parallel()
	law := func(n uint8, code uint16) bool {
		d, err := delivery.DefaultRetryPolicy(failed(int(n%12), int(code%600), nil), nil)
		if err != nil {
			return d == 0
		}
		return d >= 0 && d <= 12*time.Hour
	}
	require.NoError(t, quick.Check(law, &quick.Config{MaxCount: 2000}))
}

func TestDefaultRetryPolicyRetryAfter(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		code  int
		value string
		want  time.Duration
	}{
		{"seconds on 429", 429, "120", 2 * time.Minute},
		{"seconds on 503", 503, "7", 7 * time.Second},
		{"clamped", 429, "999999", delivery.MaxRetryAfter},
		{"a date", 503, at.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"a past date", 503, at.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		d, err := delivery.DefaultRetryPolicy(failed(3, tt.code, http.Header{"Retry-After": {tt.value}}), nil)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, d, tt.name)
	}
	// Ignored on other codes, and when malformed.
	for _, h := range []http.Header{{"Retry-After": {"5"}}, {"Retry-After": {"soon"}}} {
		code := 500
		if h.Get("Retry-After") == "soon" {
			code = 429
		}
		d, err := delivery.DefaultRetryPolicy(failed(3, code, h), nil)
		require.NoError(t, err)
		require.Greater(t, d, 23*time.Minute, "the schedule's 30 minutes, jittered")
	}
}

// A policy of one's own schedule keeps the default's judgement of what is
// final, and its Retry-After handling.
func TestNewRetryPolicy(t *testing.T) {
	t.Parallel()
	p := delivery.NewRetryPolicy(time.Minute, -time.Second)
	d, err := p(failed(1, 503, nil), nil)
	require.NoError(t, err)
	require.InDelta(t, float64(time.Minute), float64(d), float64(12*time.Second))
	d, err = p(failed(2, 503, nil), nil)
	require.NoError(t, err)
	require.Zero(t, d, "a negative delay counts as zero")
	_, err = p(failed(3, 503, nil), nil)
	require.ErrorIs(t, err, delivery.ErrRetriesExhausted, "two delays, three attempts")
	_, err = p(failed(1, 400, nil), nil)
	require.ErrorIs(t, err, delivery.ErrNotRetryable, "the default's judgement")
	d, err = p(failed(1, 429, http.Header{"Retry-After": {"7"}}), nil)
	require.NoError(t, err)
	require.Equal(t, 7*time.Second, d)

	_, err = delivery.NewRetryPolicy()(failed(1, 500, nil), nil)
	require.ErrorIs(t, err, delivery.ErrRetriesExhausted, "no delays: never retried")

	delays := []time.Duration{time.Hour}
	p = delivery.NewRetryPolicy(delays...)
	delays[0] = time.Nanosecond
	d, err = p(failed(1, 500, nil), nil)
	require.NoError(t, err)
	require.Greater(t, d, 40*time.Minute, "the policy copied its delays")

	// DefaultDelays hands out a copy.
	delivery.DefaultDelays()[0] = time.Nanosecond
	require.Equal(t, 5*time.Second, delivery.DefaultDelays()[0])
}

func TestFinalOutcome(t *testing.T) {
	t.Parallel()
	require.NoError(t, delivery.FinalOutcome(failed(1, 503, nil), nil))
	require.ErrorIs(t, delivery.FinalOutcome(failed(1, 410, nil), nil), delivery.ErrEndpointGone)
	require.ErrorIs(t, delivery.FinalOutcome(failed(1, 422, nil), nil), delivery.ErrNotRetryable)
	require.NoError(t, delivery.FinalOutcome(failed(1, 0, nil), errors.New("connection refused")))
}
