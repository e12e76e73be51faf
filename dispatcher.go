package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// Version is the library's version, sent in the default User-Agent.
const Version = "0.1.0"

// Config defaults.
const (
	// DefaultTimeout bounds one attempt: connecting, sending, and reading
	// the response.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxPayloadSize is the largest payload Deliver accepts.
	DefaultMaxPayloadSize = 1 << 20
	// DefaultMaxResponseBodySize is how much of a response body an
	// attempt records.
	DefaultMaxResponseBodySize = 64 << 10
	// DefaultUserAgent names the library and its version.
	DefaultUserAgent = "webhookkit-delivery/" + Version
)

// maxDrain is how many response bytes past the recorded ones are read and
// discarded so that the connection can be reused; a longer body closes the
// connection instead.
const maxDrain = 256 << 10

// maxResponseHeaderBytes bounds the response headers the default client
// reads; a receiver that sends more fails the attempt.
const maxResponseHeaderBytes = 64 << 10

// leaseGrace is how much longer than Config.Timeout an attempt in flight
// holds its lease, so that no worker takes it over while it is sent.
const leaseGrace = 30 * time.Second

// Config configures a Dispatcher. The zero value, like a nil *Config, means
// all defaults.
type Config struct {
	// HTTPClient sends the requests. Defaults to a client shared by all
	// Dispatchers in the process, with pooled keep-alive connections, that
	// does not follow redirects. A host's own client is used as it is: its
	// redirect policy, proxy and transport settings apply, and its safety
	// is the host's concern. Config.Timeout applies to every request either
	// way.
	HTTPClient *http.Client
	// Timeout bounds one attempt, from connecting to the end of reading the
	// response. Defaults to DefaultTimeout.
	Timeout time.Duration
	// MaxPayloadSize is the largest Event.Payload accepted, in bytes.
	// Defaults to DefaultMaxPayloadSize.
	MaxPayloadSize int
	// MaxResponseBodySize is how many bytes of a response body an attempt
	// records; a longer body is cut and the attempt marked
	// ResponseTruncated. Defaults to DefaultMaxResponseBodySize.
	MaxResponseBodySize int
	// UserAgent is the User-Agent request header. Defaults to
	// DefaultUserAgent.
	UserAgent string
	// Logger receives one record per completed attempt, and store errors.
	// Records name attempt, event and endpoint IDs, never URLs or secrets.
	// Defaults to discarding everything.
	Logger *slog.Logger
	// Now returns the current time. Defaults to time.Now. Tests set it to
	// control scheduling; it does not affect attempt IDs.
	Now func() time.Time
}

// defaultClient is the HTTP client of Dispatchers whose Config names none.
var defaultClient = &http.Client{
	Transport: newTransport(),
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// newTransport returns a pooled transport, with go-cleanhttp's settings and
// enough idle connections per host for concurrent deliveries to one
// endpoint.
func newTransport() *http.Transport {
	t := cleanhttp.DefaultPooledTransport()
	t.MaxIdleConnsPerHost = 128
	t.MaxIdleConns = 1024
	t.MaxResponseHeaderBytes = maxResponseHeaderBytes
	return t
}

// withDefaults returns a copy of c, or of the zero Config, with every unset
// field filled in, or an error for a field out of range.
func (c *Config) withDefaults() (Config, error) {
	var cfg Config
	if c != nil {
		cfg = *c
	}
	if cfg.Timeout < 0 || cfg.MaxPayloadSize < 0 || cfg.MaxResponseBodySize < 0 {
		return cfg, invalid("config: Timeout, MaxPayloadSize and MaxResponseBodySize must not be negative")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultClient
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxPayloadSize == 0 {
		cfg.MaxPayloadSize = DefaultMaxPayloadSize
	}
	if cfg.MaxResponseBodySize == 0 {
		cfg.MaxResponseBodySize = DefaultMaxResponseBodySize
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// Dispatcher delivers events to endpoints and records every attempt in its
// Store. It is safe for concurrent use by multiple goroutines.
type Dispatcher struct {
	store Store
	cfg   Config
	// owner identifies this Dispatcher's leases.
	owner string
}

// NewDispatcher returns a Dispatcher that records attempts in store. A nil
// cfg means all defaults. It returns an error wrapping ErrInvalidInput when
// store is nil or cfg holds a value out of range.
func NewDispatcher(store Store, cfg *Config) (*Dispatcher, error) {
	if store == nil {
		return nil, invalid("store is nil")
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	owner, err := ids.next()
	if err != nil {
		return nil, err
	}
	return &Dispatcher{store: store, cfg: c, owner: "dispatcher-" + owner}, nil
}

// ErrDeliveryFailed is wrapped by the error Deliver returns when the
// endpoint did not accept the event: it answered with a status code other
// than 2xx, or no complete answer came.
var ErrDeliveryFailed = errors.New("delivery: endpoint did not accept the event")

// AttemptError is the error Deliver returns when an attempt was made and
// recorded, but failed. errors.Is(err, ErrDeliveryFailed) is true for it,
// and errors.Is also matches its cause, such as context.DeadlineExceeded.
type AttemptError struct {
	// AttemptID is the ID of the failed attempt.
	AttemptID string
	// EndpointID is the endpoint that did not accept the event.
	EndpointID string
	// StatusCode is the response's status code, or 0 when none arrived.
	StatusCode int
	// Retryable reports whether another attempt may succeed: true for
	// transport errors, 429 and 5xx other than 501, as go-retryablehttp's
	// DefaultRetryPolicy decides; false for other answers and for TLS
	// certificate, scheme and redirect errors.
	Retryable bool
	// Err is the transport error, or nil when a response arrived.
	Err error
}

func (e *AttemptError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("delivery: attempt %s to endpoint %s failed: %v", e.AttemptID, e.EndpointID, e.Err)
	}
	return fmt.Sprintf("delivery: attempt %s to endpoint %s failed: HTTP %d", e.AttemptID, e.EndpointID, e.StatusCode)
}

// Is reports whether target is ErrDeliveryFailed.
func (e *AttemptError) Is(target error) bool { return target == ErrDeliveryFailed }

// Unwrap returns the transport error, if any.
func (e *AttemptError) Unwrap() error { return e.Err }

// Deliver sends ev to ep now, once, and records the try as an attempt: it
// validates its input, stores a pending attempt, POSTs the payload signed
// with the endpoint's secrets, and completes the attempt with the outcome.
// It makes exactly one HTTP request: go-retryablehttp's in-process retries
// are not used, because each request must have its own attempt record.
//
// Deliver returns the final attempt and:
//   - nil when the endpoint answered 2xx (StatusSuccess);
//   - an *AttemptError wrapping ErrDeliveryFailed when it answered anything
//     else, 3xx included, or no complete answer came (StatusFailure); the
//     attempt holds the details;
//   - an error wrapping ErrInvalidInput, with a zero Attempt, when ev, ep
//     or a secret is invalid; nothing was stored or sent;
//   - a store error, with a zero Attempt, when the pending attempt could
//     not be stored; nothing was sent;
//   - a store error, with the attempt as sent, when its outcome could not be
//     recorded; the stored attempt then stays pending.
//
// Canceling ctx aborts the request, which is then recorded as a failure;
// the outcome is recorded even after ctx is done.
func (d *Dispatcher) Deliver(ctx context.Context, ev Event, ep Endpoint) (Attempt, error) {
	if err := ev.validate(d.cfg.MaxPayloadSize); err != nil {
		return Attempt{}, err
	}
	if err := ep.validate(); err != nil {
		return Attempt{}, err
	}
	keys, err := signingKeys(ep.Secrets)
	if err != nil {
		return Attempt{}, fmt.Errorf("endpoint %q: %w", ep.ID, err)
	}
	id, err := ids.next()
	if err != nil {
		return Attempt{}, fmt.Errorf("delivery: new attempt id: %w", err)
	}
	now := d.now()
	job := Job{
		Attempt: Attempt{
			ID:            id,
			EventID:       ev.ID,
			EventType:     ev.Type,
			EndpointID:    ep.ID,
			EndpointURL:   ep.URL,
			Status:        StatusPending,
			AttemptNumber: 1,
			Trigger:       TriggerFirst,
			ScheduledAt:   now,
		},
		Payload: ev.Payload,
		Lease:   Lease{Owner: d.owner, Until: now.Add(d.cfg.Timeout + leaseGrace)},
	}
	if err := d.store.Insert(ctx, job); err != nil {
		return Attempt{}, fmt.Errorf("delivery: store attempt of event %s to endpoint %s: %w", ev.ID, ep.ID, err)
	}
	final, sendErr := d.send(ctx, job, ep, keys)
	// Record the outcome even if the caller gave up meanwhile.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
	defer cancel()
	if err := d.store.Complete(recordCtx, final, nil); err != nil {
		d.cfg.Logger.LogAttrs(ctx, slog.LevelError, "delivery: cannot record attempt",
			slog.String("attempt_id", final.ID), slog.String("event_id", final.EventID),
			slog.String("endpoint_id", final.EndpointID), slog.Any("error", err))
		return final, fmt.Errorf("delivery: record attempt %s: %w", final.ID, err)
	}
	d.logAttempt(ctx, final)
	if final.Status == StatusSuccess {
		return final, nil
	}
	return final, &AttemptError{
		AttemptID:  final.ID,
		EndpointID: final.EndpointID,
		StatusCode: final.ResponseStatusCode,
		Retryable:  retryable(final.ResponseStatusCode, sendErr),
		Err:        sendErr,
	}
}

// now returns the configured clock's time in UTC, at the microsecond
// precision that stores keep.
func (d *Dispatcher) now() time.Time {
	return d.cfg.Now().UTC().Truncate(time.Microsecond)
}

// retryable applies go-retryablehttp's default policy to an outcome.
func retryable(statusCode int, sendErr error) bool {
	var resp *http.Response
	if sendErr == nil {
		resp = &http.Response{StatusCode: statusCode}
	}
	retry, _ := retryablehttp.DefaultRetryPolicy(context.Background(), resp, sendErr)
	return retry
}

// send makes the HTTP request of job's attempt to ep and returns the
// completed attempt, with the transport error if no complete response
// arrived.
func (d *Dispatcher) send(ctx context.Context, job Job, ep Endpoint, keys [][]byte) (Attempt, error) {
	a := job.Attempt
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.EndpointURL, bytes.NewReader(job.Payload))
	if err != nil {
		// The URL was validated, so this takes a bug; the attempt is
		// recorded as failed, never left pending.
		err = fmt.Errorf("building request: %w", transportError(ctx, err, d.cfg.Timeout))
		a.Status = StatusFailure
		a.Error = errorText(err)
		return a, err
	}
	for name, value := range ep.Headers {
		req.Header.Set(name, value)
	}
	a.AttemptedAt = d.now()
	ts := strconv.FormatInt(a.AttemptedAt.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header.Set(HeaderID, a.EventID)
	req.Header.Set(HeaderTimestamp, ts)
	if len(keys) > 0 {
		req.Header.Set(HeaderSignature, signature(keys, a.EventID, ts, job.Payload))
	}

	start := time.Now()
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		err = transportError(ctx, err, d.cfg.Timeout)
		a.Duration = time.Since(start)
		a.Status = StatusFailure
		a.Error = errorText(err)
		return a, err
	}
	body, truncated, readErr := readBody(resp.Body, d.cfg.MaxResponseBodySize)
	a.Duration = time.Since(start)
	a.ResponseStatusCode = resp.StatusCode
	a.ResponseHeaders = resp.Header
	a.Response = string(body)
	a.ResponseTruncated = truncated
	switch {
	case readErr != nil:
		readErr = fmt.Errorf("reading response body: %w", transportError(ctx, readErr, d.cfg.Timeout))
		a.Status = StatusFailure
		a.Error = errorText(readErr)
		return a, readErr
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.Status = StatusSuccess
	default:
		a.Status = StatusFailure
	}
	return a, nil
}

// readBody reads up to limit bytes of body, then drains up to maxDrain more
// so the connection can be reused, and closes it. truncated reports that
// the body was longer than limit.
func readBody(body io.ReadCloser, limit int) (data []byte, truncated bool, err error) {
	defer body.Close()
	data, err = io.ReadAll(io.LimitReader(body, int64(limit)+1))
	if err != nil {
		return data, false, err
	}
	if len(data) > limit {
		data, truncated = data[:limit], true
		// Past maxDrain the rest is dropped with the connection.
		_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	}
	return data, truncated, nil
}

// transportError turns an error from the HTTP client into one fit for an
// attempt record: without the request URL, which may carry tokens, and
// naming the timeout when the attempt ran out of time.
func transportError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("attempt timed out (limit %v): %w", timeout, context.DeadlineExceeded)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// errorText returns err's message as an attempt records it: valid UTF-8
// without NUL bytes, which every store's text column can hold.
func errorText(err error) string {
	return strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\x00", ""), "\uFFFD")
}

// logAttempt logs a completed attempt.
func (d *Dispatcher) logAttempt(ctx context.Context, a Attempt) {
	level := slog.LevelInfo
	if a.Status != StatusSuccess {
		level = slog.LevelWarn
	}
	d.cfg.Logger.LogAttrs(ctx, level, "delivery: attempt completed",
		slog.String("attempt_id", a.ID),
		slog.String("event_id", a.EventID),
		slog.String("endpoint_id", a.EndpointID),
		slog.String("status", a.Status.String()),
		slog.Int("response_status_code", a.ResponseStatusCode),
		slog.Duration("duration", a.Duration),
		slog.String("error", a.Error))
}
