package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// RetryPolicy decides what follows a failed attempt: another attempt after
// the returned delay, or, when it returns an error, none; the error says
// why, and is passed to Config.OnGiveUp. It is called with the failed
// attempt as recorded and the transport error (nil when a response came).
// It must be safe for concurrent use.
type RetryPolicy func(failed Attempt, sendErr error) (time.Duration, error)

// Errors that end a delivery, returned by DefaultRetryPolicy and passed to
// Config.OnGiveUp. Match them with errors.Is.
var (
	// ErrRetriesExhausted: the last allowed attempt failed.
	ErrRetriesExhausted = errors.New("delivery: retries exhausted")
	// ErrNotRetryable: the outcome cannot change by trying again unchanged,
	// such as a 400 or a TLS certificate error.
	ErrNotRetryable = errors.New("delivery: outcome is final")
	// ErrEndpointGone: the endpoint answered 410 Gone, or the host's
	// EndpointFunc reported it deleted or disabled.
	ErrEndpointGone = errors.New("delivery: endpoint is gone")
	// ErrEventCanceled: the event's pending attempts were canceled (by
	// CancelEvent, or because its endpoint was reported gone) while the
	// attempt was in flight, so the retry the policy asked for was
	// dropped. It is the reason in AttemptError.GiveUp; OnGiveUp is not
	// called for it, since the host itself ended the delivery.
	ErrEventCanceled = errors.New("delivery: event canceled while the attempt was in flight; its retry was dropped")
)

// DefaultDelays returns the delays of DefaultRetryPolicy, a new slice at
// each call: after attempt n fails, attempt n+1 is due DefaultDelays()[n-1]
// later: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. That is 8 attempts over
// about 28 hours.
func DefaultDelays() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

// MaxRetryAfter bounds the delay a receiver can ask for with Retry-After.
const MaxRetryAfter = time.Hour

// defaultPolicy is DefaultRetryPolicy's policy, built once.
var defaultPolicy = NewRetryPolicy(DefaultDelays()...)

// DefaultRetryPolicy is NewRetryPolicy(DefaultDelays()...): up to 8
// attempts over about 28 hours, with ±20% jitter so that retries of many
// deliveries spread out. After the 8th attempt it returns
// ErrRetriesExhausted. FinalOutcome says which outcomes it retries.
func DefaultRetryPolicy(failed Attempt, sendErr error) (time.Duration, error) {
	return defaultPolicy(failed, sendErr)
}

// NewRetryPolicy returns a policy with a schedule of its own and the
// judgement of DefaultRetryPolicy. When attempt n fails and FinalOutcome
// does not call the outcome final, attempt n+1 is due delays[n-1] later,
// with ±20% jitter, or when a 429 or 503 response's Retry-After header
// asks, up to MaxRetryAfter. After attempt len(delays)+1 it returns
// ErrRetriesExhausted; with no delays, a failed attempt is never retried.
// A negative delay counts as zero. It copies delays, and the policy is safe
// for concurrent use.
func NewRetryPolicy(delays ...time.Duration) RetryPolicy {
	schedule := slices.Clone(delays)
	return func(failed Attempt, sendErr error) (time.Duration, error) {
		if err := FinalOutcome(failed, sendErr); err != nil {
			return 0, err
		}
		n := max(failed.AttemptNumber, 1)
		if n > len(schedule) {
			return 0, fmt.Errorf("%w after %d attempts", ErrRetriesExhausted, n)
		}
		if after, ok := retryAfter(failed); ok {
			return after, nil
		}
		return jitter(schedule[n-1]), nil
	}
}

// FinalOutcome returns why the outcome of a failed attempt is final, so
// that trying again unchanged would fail the same way: an error wrapping
// ErrNotRetryable or ErrEndpointGone. It returns nil when another attempt
// may succeed. sendErr is the transport error, nil when a response came.
// It is the judgement of DefaultRetryPolicy and of every NewRetryPolicy
// policy, for a host that writes its own:
//   - no response (connection refused or reset, timeout, DNS failure):
//     retried, since a receiver that is down or deploying comes back;
//   - 5xx other than 501: retried;
//   - 408, 409, 423, 425 and 429: retried, since they say "not now";
//   - 401, 403 and 404: retried, since a receiver fixes its configuration
//     without the sender changing anything; the schedule bounds them;
//   - 410 Gone: final, ErrEndpointGone;
//   - 3xx (redirects are not followed), 501, and the other 4xx: final,
//     ErrNotRetryable: the same request would fail the same way;
//   - TLS certificate errors: final, ErrNotRetryable, until the receiver
//     fixes its certificate;
//   - an address the AddressPolicy refuses: final, ErrNotRetryable;
//   - an error that already wraps ErrNotRetryable or ErrEndpointGone:
//     final, as it is.
func FinalOutcome(a Attempt, sendErr error) error {
	var unknownAuthority x509.UnknownAuthorityError
	var invalidCert x509.CertificateInvalidError
	var hostname x509.HostnameError
	switch code := a.ResponseStatusCode; {
	case sendErr != nil:
		if errors.Is(sendErr, ErrNotRetryable) || errors.Is(sendErr, ErrEndpointGone) {
			return sendErr
		}
		if errors.Is(sendErr, ErrAddressForbidden) {
			// The same address would be refused again: no retry storm.
			return fmt.Errorf("%w: %w", ErrNotRetryable, sendErr)
		}
		// go-retryablehttp's policy knows the transport errors that repeat
		// (bad scheme, bad header, untrusted certificate); it reads them
		// from the *url.Error that the HTTP client returned.
		retry, _ := retryablehttp.DefaultRetryPolicy(context.Background(), nil, &url.Error{Op: "Post", Err: sendErr})
		if !retry || errors.As(sendErr, &unknownAuthority) || errors.As(sendErr, &invalidCert) || errors.As(sendErr, &hostname) {
			return fmt.Errorf("%w: %v", ErrNotRetryable, sendErr)
		}
		return nil
	case code == http.StatusGone:
		return fmt.Errorf("%w: HTTP 410", ErrEndpointGone)
	case code >= 500 && code != http.StatusNotImplemented:
		return nil
	}
	switch a.ResponseStatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusRequestTimeout,
		http.StatusConflict, http.StatusLocked, http.StatusTooEarly, http.StatusTooManyRequests:
		return nil
	}
	return fmt.Errorf("%w: HTTP %d", ErrNotRetryable, a.ResponseStatusCode)
}

// retryAfter reads the Retry-After header of a 429 or 503, clamped to
// [0, MaxRetryAfter].
func retryAfter(a Attempt) (time.Duration, bool) {
	if a.ResponseStatusCode != http.StatusTooManyRequests && a.ResponseStatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	v := a.ResponseHeaders.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(a.AttemptedAt)
	} else {
		return 0, false
	}
	return min(max(d, 0), MaxRetryAfter), true
}

// jitter returns d moved at random by up to 20% either way.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	spread := int64(d) * 2 / 5
	// #nosec G404 -- jitter spreads retries out; it needs no unpredictability.
	return time.Duration(int64(d) - spread/2 + rand.Int64N(spread+1))
}
