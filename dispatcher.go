package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/propagation"
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

// leaseGrace is how much longer than Config.Timeout the default Config.Lease
// is, so that no worker takes an attempt over while it is being sent.
const leaseGrace = 30 * time.Second

// Config configures a Dispatcher. The zero value, like a nil *Config, means
// all defaults.
type Config struct {
	// HTTPClient sends the requests. Defaults to a client on NewTransport
	// with AddressPolicy, which does not follow redirects; without an
	// AddressPolicy, that client is shared by the process's Dispatchers. A
	// host's own client is used as it is: its redirect policy, proxy and
	// transport settings apply, AddressPolicy does not, and its safety is
	// the host's concern (NewTransport is the building block for a safe
	// one). Config.Timeout applies to every request either way.
	HTTPClient *http.Client
	// AddressPolicy decides which IP addresses the default client may
	// connect to. Defaults to DefaultAddressPolicy, which refuses loopback,
	// private, link-local (cloud metadata) and other non-public addresses.
	// Use AllowNetworks to deliver inside your own network. It is ignored
	// when HTTPClient is set.
	AddressPolicy AddressPolicy
	// Timeout bounds one attempt, from connecting to the end of reading the
	// response. Defaults to DefaultTimeout.
	Timeout time.Duration
	// MaxPayloadSize is the largest Event.Payload accepted, in bytes.
	// Defaults to DefaultMaxPayloadSize; at most MaxBodySize.
	MaxPayloadSize int
	// MaxResponseBodySize is how many bytes of a response body an attempt
	// records; a longer body is cut and the attempt marked
	// ResponseTruncated. Defaults to DefaultMaxResponseBodySize; at most
	// MaxBodySize.
	MaxResponseBodySize int
	// UserAgent is the User-Agent request header. Defaults to
	// DefaultUserAgent.
	UserAgent string
	// Logger receives one record per completed attempt (at Info, or Warn
	// when it failed), changes of endpoint health (Info, or Warn when the
	// breaker opens or the endpoint is disabled), and the errors
	// that lose or stall work (Error): a claim, a store write, or an
	// outcome that could not be recorded. Records name attempt, event and
	// endpoint IDs, never URLs or secrets. Defaults to the handler of
	// slog.Default(), as it is when NewDispatcher is called, at Error
	// level and above: such errors are seen without configuration, and
	// routine records are not.
	Logger *slog.Logger
	// Telemetry configures OpenTelemetry metrics and traces. The zero
	// Telemetry reports to the global providers.
	Telemetry Telemetry
	// Now returns the current time. Defaults to time.Now. Tests set it to
	// control scheduling; it does not affect attempt IDs.
	Now func() time.Time

	// Retry decides whether a failed attempt gets another, and when.
	// Defaults to DefaultRetryPolicy.
	Retry RetryPolicy
	// OnGiveUp, if set, is called once for each delivery that the retry
	// policy ends without success: with its last attempt, and why no retry
	// follows (ErrRetriesExhausted, ErrNotRetryable or ErrEndpointGone
	// wrapped). It is not called for deliveries that end because the host
	// canceled them (CancelEvent, an endpoint reported gone), nor for a
	// retry dropped by such a cancel while its attempt was in flight. It
	// runs on the goroutine that recorded the attempt.
	OnGiveUp func(ctx context.Context, last Attempt, reason error)
	// LookupEndpoint looks endpoints up when an attempt is sent by the
	// worker, Resend or RedeliverFailed, so that a changed URL, secret or
	// header applies to the next attempt. A URL that differs from the
	// attempt's, byte for byte (say a trailing slash), counts as changed:
	// the attempt is canceled and superseded by one for the returned URL.
	// Returning an error wrapping ErrEndpointGone cancels the endpoint's
	// pending attempts. Any other error fails the worker's attempt without
	// a request (its Error starts "endpoint lookup"), and the retry policy
	// decides what follows, counting it as a try: the failure is the
	// host's, but the trail stays complete and no attempt waits forever on
	// a lookup. Required by Start, Resend and RedeliverFailed.
	LookupEndpoint EndpointFunc
	// Workers is how many attempts the worker sends at once. Defaults to 16.
	// A worker is free for the next attempt as soon as its request ends,
	// while the outcome is being recorded; the worker holds at most twice
	// Workers claimed attempts. More workers drain a backlog faster, also
	// because their records share more of sqlstore's group commits
	// (BENCHMARKS.md measured 64 workers 1.4 to 1.5 times as fast as 16);
	// keep the database pool's idle connections at least as many.
	Workers int
	// PerEndpoint is how many attempts of one endpoint the workers hold at
	// once, from their claim until their outcome is recorded. The store
	// keeps the limit in Claim (see Fair claims in Store's documentation),
	// across every process that shares it, and serves endpoints in turn,
	// so that one endpoint's backlog never holds back another's. Attempts
	// that Deliver and Resend send at once on the caller's goroutine count
	// while in flight, but are not held back. Defaults to 4.
	PerEndpoint int
	// PollInterval is how often an idle worker asks the store for due
	// attempts. Work enqueued through this Dispatcher wakes it at once.
	// Defaults to 500 ms.
	PollInterval time.Duration
	// Lease is how long a sender holds an attempt before another process
	// may take it over, presuming its holder died. It must exceed Timeout.
	// Defaults to Timeout plus 30 s.
	Lease time.Duration

	// Breaker says when an endpoint that keeps failing is paused or
	// disabled. The zero Breaker means its defaults.
	Breaker Breaker
	// Retention, when positive, makes the worker delete the final
	// attempts older than Retention, with their payloads, responses and
	// headers, every PurgeInterval (see Dispatcher.Purge and PurgeStore):
	// that is how long the audit trail, and the personal data it may
	// hold, lives. Pending attempts are never deleted. Zero, the default,
	// keeps every attempt for ever. NewDispatcher returns an error
	// wrapping ErrInvalidInput when Retention is set and the Store is not
	// a PurgeStore.
	Retention time.Duration
	// PurgeInterval is how often the worker purges when Retention is set,
	// the first time when it starts. Defaults to DefaultPurgeInterval.
	// Every worker process purges; concurrent purges are harmless.
	PurgeInterval time.Duration

	// OnEndpointHealth, if set, is called when this Dispatcher changes
	// the state of an endpoint: when it opens the circuit breaker, or
	// opens it again after a failed probe; when it pauses the endpoint for
	// a Retry-After; when a probe succeeds and closes the breaker; when it
	// disables the endpoint (once, across every process sharing a
	// HealthStore); and on ResumeEndpoint. It runs on the goroutine that
	// recorded the attempt, or that called ResumeEndpoint. The same
	// changes are logged.
	OnEndpointHealth func(ctx context.Context, h EndpointHealth)
}

// EndpointFunc returns the endpoint with the given ID as it is now. It
// returns an error wrapping ErrEndpointGone when the endpoint was deleted or
// disabled. It must be safe for concurrent use.
type EndpointFunc func(ctx context.Context, endpointID string) (Endpoint, error)

// defaultClient is the HTTP client of Dispatchers whose Config names
// neither a client nor an address policy.
var defaultClient = newClient(NewTransport(nil))

// newClient returns a client on t that does not follow redirects.
func newClient(t http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// withDefaults returns a copy of c, or of the zero Config, with every unset
// field filled in, or an error for a field out of range.
func (c *Config) withDefaults() (Config, error) {
	var cfg Config
	if c != nil {
		cfg = *c
	}
	if cfg.Timeout < 0 || cfg.MaxPayloadSize < 0 || cfg.MaxResponseBodySize < 0 || cfg.Workers < 0 ||
		cfg.PerEndpoint < 0 || cfg.PollInterval < 0 || cfg.Lease < 0 || cfg.Retention < 0 || cfg.PurgeInterval < 0 {
		return cfg, invalid("config: durations, sizes and counts must not be negative")
	}
	if cfg.MaxPayloadSize > MaxBodySize || cfg.MaxResponseBodySize > MaxBodySize {
		return cfg, invalid("config: MaxPayloadSize and MaxResponseBodySize must not exceed MaxBodySize (%d)", MaxBodySize)
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
		cfg.Logger = slog.New(minLevel{slog.Default().Handler(), slog.LevelError})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retry == nil {
		cfg.Retry = DefaultRetryPolicy
	}
	if cfg.Workers == 0 {
		cfg.Workers = 16
	}
	if cfg.PerEndpoint == 0 {
		cfg.PerEndpoint = 4
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.Lease == 0 {
		cfg.Lease = cfg.Timeout + leaseGrace
	}
	if cfg.PurgeInterval == 0 {
		cfg.PurgeInterval = DefaultPurgeInterval
	}
	if cfg.Lease <= cfg.Timeout {
		return cfg, invalid("config: Lease (%v) must exceed Timeout (%v)", cfg.Lease, cfg.Timeout)
	}
	b, err := cfg.Breaker.withDefaults()
	cfg.Breaker = b
	return cfg, err
}

// Dispatcher delivers events to endpoints and records every attempt in its
// Store. It is safe for concurrent use by multiple goroutines.
type Dispatcher struct {
	store Store
	cfg   Config
	// health keeps endpoint health: the store, or local when the store
	// keeps none.
	health HealthStore
	local  *localHealth
	// breakers serialise the breaker's judgements of an endpoint.
	breakers breakerLocks
	// limiters keeps the rate limits of endpoints.
	limiters rateLimiters
	// tel reports metrics and traces.
	tel *telemetry
	// purger is the store, when Config.Retention is set; nil otherwise.
	purger PurgeStore
	// owner identifies this Dispatcher's leases.
	owner string
	// transport is the Dispatcher's own transport, made for its
	// AddressPolicy, or nil.
	transport *http.Transport
	// wake tells an idle worker that work may be due.
	wake chan struct{}
	// mu guards run.
	mu  sync.Mutex
	run *workerRun
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
	var purger PurgeStore
	if c.Retention > 0 {
		ps, ok := store.(PurgeStore)
		if !ok {
			return nil, invalid("config: Retention needs a Store that implements PurgeStore, which %T does not", store)
		}
		purger = ps
	}
	owner, err := ids.next()
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(c.Telemetry)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{store: store, cfg: c, owner: "dispatcher-" + owner, tel: tel, purger: purger, wake: make(chan struct{}, 1)}
	if hs, ok := store.(HealthStore); ok {
		d.health = hs
	} else {
		d.local = newLocalHealth(store)
		d.health = d.local
	}
	switch {
	case c.HTTPClient != nil:
	case c.AddressPolicy != nil:
		d.transport = NewTransport(c.AddressPolicy)
		d.cfg.HTTPClient = newClient(d.transport)
	default:
		d.cfg.HTTPClient = defaultClient
	}
	return d, nil
}

// ErrDeliveryFailed is wrapped by the error Deliver returns when the
// endpoint did not accept the event: it answered with a status code other
// than 2xx, or no complete answer came.
var ErrDeliveryFailed = errors.New("delivery: endpoint did not accept the event")

// AttemptError is the error Deliver and Resend return when an attempt was
// made and recorded, but failed. errors.Is(err, ErrDeliveryFailed) is true
// for it; errors.Is also matches its transport error (such as
// context.DeadlineExceeded) and the reason no retry follows (such as
// ErrEndpointGone).
type AttemptError struct {
	// AttemptID is the ID of the failed attempt.
	AttemptID string
	// EndpointID is the endpoint that did not accept the event.
	EndpointID string
	// StatusCode is the response's status code, or 0 when none arrived.
	StatusCode int
	// Err is the transport error, or nil when a response arrived.
	Err error
	// Next is the retry that was stored, pending, or nil when none was:
	// the delivery ended, or the event was canceled while the attempt was
	// in flight and the store dropped the retry.
	Next *Attempt
	// GiveUp says why no retry follows, when Next is nil: the retry
	// policy's error, or ErrEventCanceled.
	GiveUp error
}

func (e *AttemptError) Error() string {
	msg := fmt.Sprintf("delivery: attempt %s to endpoint %s failed: HTTP %d", e.AttemptID, e.EndpointID, e.StatusCode)
	if e.Err != nil {
		msg = fmt.Sprintf("delivery: attempt %s to endpoint %s failed: %v", e.AttemptID, e.EndpointID, e.Err)
	}
	if e.Next != nil {
		return msg + "; retry " + e.Next.ID + " due at " + e.Next.ScheduledAt.Format(time.RFC3339)
	}
	if e.GiveUp != nil {
		// The reasons are this package's sentinels, wrapped: say the
		// package once.
		return msg + "; no retry: " + strings.TrimPrefix(e.GiveUp.Error(), "delivery: ")
	}
	return msg
}

// Is reports whether target is ErrDeliveryFailed.
func (e *AttemptError) Is(target error) bool { return target == ErrDeliveryFailed }

// Unwrap returns the transport error and the reason no retry follows.
func (e *AttemptError) Unwrap() []error { return []error{e.Err, e.GiveUp} }

// Deliver sends ev to ep now, once, and records the try as an attempt: it
// validates its input, stores a pending attempt, POSTs the payload signed
// with the endpoint's secrets, and completes the attempt with the outcome.
// When the attempt fails and Config.Retry allows another, the retry is
// stored in the same step, pending, for the worker (see Start) to send.
//
// Deliver makes exactly one HTTP request. go-retryablehttp's in-process
// retry loop is not used, because each request must have its own attempt
// record; its policy helps decide which failures are final.
//
// Deliver returns the final attempt and:
//   - nil when the endpoint answered 2xx (StatusSuccess);
//   - an *AttemptError wrapping ErrDeliveryFailed when it answered anything
//     else, 3xx included, or no complete answer came (StatusFailure); the
//     attempt holds the details, the error the retry stored, if any, or
//     why none follows (ErrEventCanceled when CancelEvent dropped it
//     while the request was in flight);
//   - an error wrapping ErrInvalidInput, with a zero Attempt, when ev, ep
//     or a secret is invalid; nothing was stored or sent;
//   - an error wrapping ErrDuplicate, with a zero Attempt, when ev was
//     already enqueued or delivered to ep: an event goes to an endpoint
//     once (Resend sends it again); nothing was stored or sent;
//   - a store error, with a zero Attempt, when the pending attempt could
//     not be stored; nothing was sent;
//   - a store error, with the attempt as sent, when its outcome could not be
//     recorded; the stored attempt then stays pending until its lease ends,
//     when a worker records it as failed and retries it.
//
// Canceling ctx aborts the request, which is then recorded as a failure;
// the outcome is recorded even after ctx is done.
func (d *Dispatcher) Deliver(ctx context.Context, ev Event, ep Endpoint) (Attempt, error) {
	if err := ev.validate(d.cfg.MaxPayloadSize); err != nil {
		return Attempt{}, err
	}
	keys, err := ep.validate()
	if err != nil {
		return Attempt{}, err
	}
	now := d.now()
	job, err := d.newJob(ev, ep, 1, TriggerFirst, now, traceParentOf(ctx))
	if err != nil {
		return Attempt{}, err
	}
	job.Lease = Lease{Owner: d.owner, Until: now.Add(d.cfg.Lease)}
	if err := d.store.Insert(ctx, job); err != nil {
		return Attempt{}, fmt.Errorf("store attempt of event %s to endpoint %s: %w", ev.ID, ep.ID, err)
	}
	final, sendErr := d.send(ctx, job, ep, keys)
	final, err = d.settle(ctx, job, final, sendErr, d.cfg.Retry)
	d.confirmRetry(ctx, err)
	return final, err
}

// confirmRetry checks that the retry named by err, an error of settle,
// was stored: a Store drops it when the event was canceled while the
// attempt was in flight, and the caller must learn what the store did.
func (d *Dispatcher) confirmRetry(ctx context.Context, err error) {
	var aerr *AttemptError
	if !errors.As(err, &aerr) || aerr.Next == nil {
		return
	}
	_, gerr := d.store.Get(context.WithoutCancel(ctx), aerr.Next.ID)
	if errors.Is(gerr, ErrNotFound) {
		aerr.Next, aerr.GiveUp = nil, ErrEventCanceled
	}
}

// newJob returns a new pending attempt of ev to ep, due at, whose span
// will be a child of the span traceParent names (see Job.TraceParent).
func (d *Dispatcher) newJob(ev Event, ep Endpoint, number int, trigger Trigger, at time.Time, traceParent string) (Job, error) {
	id, err := ids.next()
	if err != nil {
		return Job{}, fmt.Errorf("new attempt id: %w", err)
	}
	return Job{
		Attempt: Attempt{
			ID:            id,
			EventID:       ev.ID,
			EventType:     ev.Type,
			EndpointID:    ep.ID,
			EndpointURL:   ep.URL,
			Status:        StatusPending,
			AttemptNumber: number,
			Trigger:       trigger,
			ScheduledAt:   at,
		},
		Payload:     ev.Payload,
		TraceParent: traceParent,
	}, nil
}

// settle records final, the outcome of job's attempt, together with the
// retry that policy asks for when it failed, and reports the outcome as
// Deliver documents. It is the one path by which every sent attempt is
// recorded.
func (d *Dispatcher) settle(ctx context.Context, job Job, final Attempt, sendErr error, policy RetryPolicy) (Attempt, error) {
	var next *Job
	var giveUp error
	if final.Status == StatusFailure {
		delay, stop := policy(final, sendErr)
		if stop != nil {
			giveUp = stop
		} else {
			retry, err := d.newJob(job.event(), Endpoint{ID: final.EndpointID, URL: final.EndpointURL},
				final.AttemptNumber+1, TriggerRetry, d.now().Add(delay), job.TraceParent)
			if err != nil {
				return final, err
			}
			next = &retry
		}
	}
	news := d.judgeHealth(ctx, job, final)
	recordCtx, cancel := d.recordContext(ctx)
	defer cancel()
	if err := d.store.Complete(recordCtx, final, next); err != nil {
		d.cfg.Logger.LogAttrs(ctx, slog.LevelError, "delivery: cannot record attempt",
			slog.String("attempt_id", final.ID), slog.String("event_id", final.EventID),
			slog.String("endpoint_id", final.EndpointID), slog.Any("error", err))
		return final, fmt.Errorf("record attempt %s: %w", final.ID, err)
	}
	d.logAttempt(ctx, final)
	d.tel.recordAttempt(ctx, final, sendErr)
	d.healthRecorded(ctx, job, final, news)
	if final.Status == StatusSuccess {
		return final, nil
	}
	aerr := &AttemptError{
		AttemptID:  final.ID,
		EndpointID: final.EndpointID,
		StatusCode: final.ResponseStatusCode,
		Err:        sendErr,
		GiveUp:     giveUp,
	}
	if next != nil {
		aerr.Next = &next.Attempt
		d.wakeWorker()
	} else if d.cfg.OnGiveUp != nil && final.Status == StatusFailure {
		d.cfg.OnGiveUp(ctx, final, giveUp)
	}
	return final, aerr
}

// now returns the configured clock's time in UTC, at the microsecond
// precision that stores keep.
func (d *Dispatcher) now() time.Time {
	return d.cfg.Now().UTC().Truncate(time.Microsecond)
}

// send makes the HTTP request of job's attempt to ep and returns the
// completed attempt, with the transport error if no complete response
// arrived.
func (d *Dispatcher) send(ctx context.Context, job Job, ep Endpoint, keys [][]byte) (a Attempt, err error) {
	a = job.Attempt
	ctx, span := d.tel.startAttempt(ctx, job)
	var req *http.Request
	defer func() {
		var u *url.URL
		if req != nil {
			u = req.URL
		}
		d.tel.endAttempt(span, a, u, err)
	}()
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()

	at := d.now()
	req, err = d.newRequest(ctx, job, ep, keys, at)
	if err != nil {
		// The URL was validated, so this takes a bug; the attempt is
		// recorded as failed, never left pending.
		err = fmt.Errorf("building request: %w", transportError(ctx, err, d.cfg.Timeout))
		return failed(a, err), err
	}
	if d.tel.cfg.SendTraceParent {
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	a.AttemptedAt = at
	d.tel.requestStarted()
	defer d.tel.requestEnded()
	start := time.Now()
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		err = transportError(ctx, err, d.cfg.Timeout)
		a.Duration = time.Since(start)
		return failed(a, err), err
	}
	body, truncated, readErr := readBody(resp.Body, d.cfg.MaxResponseBodySize)
	a.Duration = time.Since(start)
	a.ResponseStatusCode = resp.StatusCode
	a.ResponseHeaders = recordedHeaders(resp.Header)
	a.Response = string(body)
	a.ResponseTruncated = truncated
	switch {
	case readErr != nil:
		readErr = fmt.Errorf("reading response body: %w", transportError(ctx, readErr, d.cfg.Timeout))
		return failed(a, readErr), readErr
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.Status = StatusSuccess
	default:
		a.Status = StatusFailure
	}
	return a, nil
}

// newRequest returns the signed POST of job's payload to ep, sent at.
func (d *Dispatcher) newRequest(ctx context.Context, job Job, ep Endpoint, keys [][]byte, at time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Attempt.EndpointURL, bytes.NewReader(job.Payload))
	if err != nil {
		return nil, err
	}
	for name, value := range ep.Headers {
		req.Header.Set(name, value)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	// The keys are canonical already, so Set's canonicalization and its
	// slice a value are skipped: one backing array holds the values.
	values := [...]string{"application/json", d.cfg.UserAgent, job.Attempt.EventID, ts, ""}
	req.Header["Content-Type"] = values[0:1:1]
	req.Header["User-Agent"] = values[1:2:2]
	req.Header[canonicalID] = values[2:3:3]
	req.Header[canonicalTimestamp] = values[3:4:4]
	if len(keys) > 0 {
		values[4] = signature(keys, job.Attempt.EventID, ts, job.Payload)
		req.Header[canonicalSignature] = values[4:5:5]
	}
	return req, nil
}

// The canonical forms of the Standard Webhooks header names, the keys of an
// http.Header.
var (
	canonicalID        = http.CanonicalHeaderKey(HeaderID)
	canonicalTimestamp = http.CanonicalHeaderKey(HeaderTimestamp)
	canonicalSignature = http.CanonicalHeaderKey(HeaderSignature)
)

// readBody reads up to limit bytes of body, then drains up to maxDrain more
// so the connection can be reused, and closes it. truncated reports that
// the body was longer than limit.
func readBody(body io.ReadCloser, limit int) (data []byte, truncated bool, err error) {
	defer body.Close()
	if body == http.NoBody {
		return nil, false, nil
	}
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

// failed returns a as a failure because of err, with no response.
func failed(a Attempt, err error) Attempt {
	a.Status = StatusFailure
	a.Error = errorText(err)
	return a
}

// recordContext returns the context an outcome is recorded with: it
// outlives the caller's ctx, so that an outcome is recorded even after the
// caller gave up, and is bounded by Config.Timeout.
func (d *Dispatcher) recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
}

// errorText returns err's message as an attempt records it: valid UTF-8
// without NUL bytes, at most MaxErrorLength bytes, which every Store holds.
func errorText(err error) string {
	text := strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\x00", ""), "\uFFFD")
	if len(text) <= MaxErrorLength {
		return text
	}
	const more = " …"
	cut := MaxErrorLength - len(more)
	for !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + more
}

// recordedHeaders returns the response headers as an attempt records them:
// in name order, as many as fit in MaxResponseHeaderBytes, which every
// Store holds. The default client refuses larger headers before this; a
// host's own client may not.
func recordedHeaders(h http.Header) http.Header {
	size := 0
	for name, values := range h {
		for _, v := range values {
			size += len(name) + len(v)
		}
	}
	if size <= MaxResponseHeaderBytes {
		return h
	}
	kept := http.Header{}
	budget := MaxResponseHeaderBytes
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			if len(name)+len(v) > budget {
				return kept
			}
			budget -= len(name) + len(v)
			kept[name] = append(kept[name], v)
		}
	}
	return kept
}

// logAttempt logs a completed attempt.
func (d *Dispatcher) logAttempt(ctx context.Context, a Attempt) {
	level := slog.LevelInfo
	if a.Status != StatusSuccess {
		level = slog.LevelWarn
	}
	if !d.cfg.Logger.Enabled(ctx, level) {
		return // spare the hot path building a record nobody reads
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
