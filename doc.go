// Package delivery sends webhooks from a Go service and keeps a complete,
// immutable audit trail of every HTTP try.
//
// A host calls [Dispatcher.Deliver] from its business code. The library
// POSTs the event's payload to the customer's endpoint, signs it as
// Standard Webhooks specifies, and records the try as an [Attempt] through
// a [Store] the host picks: memstore in memory, sqlstore on a database, or
// its own, proven correct by the storetest conformance suite.
//
// # The model
//
// An [Event] is something that happened in the host's domain ("invoice.paid")
// with a payload, usually JSON. An [Endpoint] is a URL that belongs to one of
// the host's customers, with the secrets that sign requests to it. An
// [Attempt] is one HTTP request of one event to one endpoint: the audit
// record. Its fields, and their JSON names, are fixed:
//
//	id                    ULID of the attempt; IDs sort by creation
//	event_id              the event delivered (also the webhook-id header)
//	endpoint_id           the endpoint delivered to
//	endpoint_url          the endpoint's URL when the attempt was made; never rewritten
//	status                pending, success, failure or canceled
//	response              the response body, up to Config.MaxResponseBodySize
//	response_status_code  the HTTP status code, 0 when no response arrived
//	response_headers      the response headers
//	attempted_at          when the request was sent; absent while not sent
//	scheduled_at          when the attempt is due
//
// and it also carries event_type, attempt_number, trigger (first, retry or
// manual), response_truncated, error (the transport error when no response
// arrived) and duration_ns.
//
// # Lifecycle
//
// An attempt is created pending. It changes exactly once, by the library,
// to a final status: success (the endpoint answered 2xx), failure (it
// answered anything else, 3xx included, or no complete answer came within
// Config.Timeout), or canceled (no request was made for it: the event was
// canceled, the endpoint was reported gone, or the endpoint's URL changed
// and a new attempt for the new URL superseded it). That change fills
// attempted_at and the response fields.
// After it nothing changes the attempt: every Store makes completion a
// compare-and-set on the pending status, so of two concurrent completions
// exactly one wins. No API lets a host edit an attempt; hosts read them with
// [Store.Get] and [Store.List].
//
// Each HTTP request that leaves the process has its own attempt, stored
// before the request is sent. The converse does not hold: an attempt may
// have no request behind it. A canceled or superseded attempt was never
// sent; an attempt recorded as failed with "lease expired" and no
// attempted_at may or may not have been (its sender died before it could
// say); and an attempt failed because the host's Config.LookupEndpoint lookup
// failed was never sent either. The library never retries in-process
// behind the record's back: go-retryablehttp's retry loop is not used,
// only its policy, which [DefaultRetryPolicy] consults to tell which
// transport errors are final. A retry is a new attempt, with the next
// attempt_number and trigger "retry", which [Store.Complete] inserts in
// the same atomic step that records the failure.
//
// # One event, one endpoint, one delivery
//
// The attempts of an event to an endpoint are numbered 1, 2, 3, and so on,
// and every Store keeps the numbers unique. So the event ID is an
// idempotency key: a second [Dispatcher.Enqueue], [Dispatcher.EnqueueTx] or
// [Dispatcher.Deliver] of an event already enqueued to that endpoint stores
// and sends nothing and returns an error wrapping [ErrDuplicate], and a
// host that reruns its handler or its transaction can enqueue again
// safely. [Dispatcher.Resend] is the way to send an event again.
//
// An event ID also names one payload: the Store keeps an event's type and
// payload once, as its first attempt stored them, and the worker sends
// that payload with every attempt of the event, to every endpoint, retries
// included. Enqueueing an event ID again, to another endpoint, with
// another payload sends the payload stored first; Deliver, which sends at
// once, sends the payload it is given, while the record keeps the first.
// Give a changed event a new ID (receivers drop a webhook-id they have
// seen, too).
//
// # Durable delivery
//
// [Dispatcher.Enqueue] stores a pending attempt, due now or later, and
// returns at once; [Dispatcher.EnqueueTx] does so inside the host's own
// database transaction (a transactional outbox), so that the business write
// and its webhooks commit or roll back together. [Dispatcher.EnqueueMany]
// and [Dispatcher.EnqueueManyTx] fan one event out to many endpoints in one
// insert. [Dispatcher.Start] runs a
// worker that claims due attempts from the store in batches, each under a
// lease, and sends them, at most Config.Workers at once and
// Config.PerEndpoint to one endpoint (see Fair scheduling);
// [Dispatcher.Stop] stops it gracefully.
// Enqueue wakes the worker of its Dispatcher at once; other processes find
// new work within Config.PollInterval, or at once when something calls
// [Dispatcher.Wake], as sqlstore/pgnotify does on PostgreSQL when an
// EnqueueTx transaction commits.
//
// Retries are attempts. When an attempt fails and Config.Retry allows
// another, the next attempt is written, pending, with its due time and the
// next attempt_number, in the same store operation that records the
// failure: no crash can fall between the two. [DefaultRetryPolicy] makes 8
// attempts over about a day, honours Retry-After, and ends at once on 410
// Gone and on outcomes that cannot change ([FinalOutcome]);
// [NewRetryPolicy] keeps that judgement with a schedule of the host's
// own. A delivery that the policy ends without success calls
// Config.OnGiveUp; one the host ends by canceling it does not.
//
// The worker looks each endpoint up through Config.LookupEndpoint when it
// sends, so a rotated secret or a new header applies to the next attempt.
// An attempt records the URL it was made for; if the endpoint's URL
// changed since, the attempt is canceled, naming the attempt that replaces
// it for the new URL (with the next attempt number). An endpoint the host
// reports gone (ErrEndpointGone) has its pending attempts canceled. Any
// other error of the lookup is the host's, not the endpoint's, but it is
// recorded all the same, so that the trail stays complete and a lookup
// that keeps failing cannot hold an attempt forever: the attempt fails
// with an error that starts "endpoint lookup", no request is made, and the
// retry policy decides what follows, counting it as one of the event's
// tries. [Dispatcher.CancelEvent] cancels an event's pending attempts when
// it is deleted; [Dispatcher.Resend] sends an event again, recorded as a
// manual attempt with the next number; [Dispatcher.RedeliverFailed]
// re-enqueues, for an endpoint, every event whose last attempt failed
// since a given time.
//
// # Fair scheduling
//
// One customer's endpoint never delays another's. The store decides what a
// claim takes (see Fair claims in [Store]): endpoints with due work take
// turns, each served with at most Config.PerEndpoint attempts in flight,
// counting those of every process that shares the store, so an endpoint
// that hangs or answers slowly holds its own places and no others, and a
// backlog of any size waits behind the endpoints that are due. A place is
// taken from the claim until the outcome is recorded.
//
// # Endpoint health
//
// Every recorded outcome updates the endpoint's [EndpointHealth]: its
// streak of consecutive failures, when the streak began, the last status
// and error. A [HealthStore] (memstore, sqlstore) keeps it for every
// process; [Dispatcher.EndpointHealth] reads it. Config.Breaker says what
// follows a streak:
//
//   - Circuit breaker. After Breaker.Threshold consecutive failures (10)
//     the endpoint is paused for Breaker.Cooldown (30 s): its due attempts
//     are not claimed and stay pending, unchanged. Then one probe attempt
//     goes out at a time; a success closes the breaker, a failure pauses
//     the endpoint again for twice as long, up to Breaker.MaxCooldown (30
//     min). The breaker opens before the failure that reaches the threshold
//     is recorded, so that no claim sends the endpoint's next attempt in
//     between. When several of the endpoint's failures are recorded at
//     once (PerEndpoint above 1), none of them may see the threshold
//     reached before it is recorded; the streak is read again after each
//     is recorded, and the breaker opens at the threshold, once. A claim
//     made in that moment may still send up to PerEndpoint more attempts;
//     their failures find the breaker open and do not reopen it.
//   - Retry-After. A 429 or 503 with Retry-After pauses the whole endpoint
//     until then, as well as scheduling the attempt's retry.
//   - Disabling. After Breaker.DisableAfter (5 days) of nothing but
//     failures, the library stops sending to the endpoint and calls
//     Config.OnEndpointHealth once, across every process, with the health
//     it recorded, so that the host can tell its customer and, if it
//     wants, disable the endpoint itself (ErrEndpointGone from
//     LookupEndpoint cancels its pending attempts). The pending attempts
//     stay pending; [Dispatcher.ResumeEndpoint] sends them. Attempts
//     canceled meanwhile stay canceled, as records never change:
//     [Dispatcher.Resend] sends their events again.
//
// Only requests that were sent count: a failed endpoint lookup, or an
// attempt taken over from a dead sender, is not the endpoint's doing.
// Every change of state (opened, reopened, paused for Retry-After, closed
// by a probe, disabled, resumed) is logged and reported to
// Config.OnEndpointHealth.
//
// Endpoint.RateLimit and Endpoint.Burst limit the requests a second the
// worker sends to an endpoint, per process. A request that would wait
// longer than half the margin between Config.Lease and Config.Timeout is
// not held in a worker: the endpoint is paused until its turn.
//
// # Guarantees
//
// Delivery is at least once. Every attempt of an event carries the event ID
// as its webhook-id header, so receivers deduplicate on it. What happens at
// each point where a process can die:
//
//   - before the pending attempt is stored: nothing was sent, and the caller
//     got an error (with EnqueueTx, the host's transaction rolls back);
//   - after it is stored, before it is sent: it stays pending, and a worker
//     sends it (an attempt that Deliver or a worker had leased is taken over
//     when its lease ends);
//   - after the request is sent, before its outcome is recorded: when the
//     lease ends, a worker records the attempt as failed ("lease expired",
//     with no attempted_at) and sends the retry, so the receiver may get the
//     event twice. The takeover is recorded before anything else happens to
//     the attempt: a worker that claims more than it can start hands the
//     rest back, and the store keeps the mark, so no request of a dead
//     sender goes unrecorded;
//   - after the outcome is recorded: the outcome and any retry are stored
//     together; nothing is lost.
//
// On PostgreSQL and MySQL, workers in any number of processes never send
// the same attempt twice while its lease holds. Config.Workers limits each
// process on its own; Config.PerEndpoint holds across all of them. A lease
// is Config.Lease long, which must exceed Config.Timeout; leases are
// compared with each process's clock, so keep the clocks of the processes
// in sync.
//
// # Signing
//
// Every request carries the Standard Webhooks headers webhook-id,
// webhook-timestamp (Unix seconds) and webhook-signature: "v1," and the
// base64 HMAC-SHA256 of id.timestamp.payload, once per endpoint secret,
// space-separated, so receivers can rotate secrets without a gap. Secrets
// have the form "whsec_" and base64 ([NewSecret] makes one). The receiving
// side is here too: [Verifier] checks the headers and body in constant time,
// with a timestamp tolerance of five minutes in either direction;
// [Verifier.VerifyRequest] reads a request's body with a bound and checks
// it, and [Verifier.Middleware] puts that check in front of a handler.
//
// # Network safety
//
// Endpoint URLs come from the host's customers, so the default client
// refuses to connect to anything but public addresses: the
// [DefaultAddressPolicy] runs in the dialer, on the resolved address, for
// every connection. [AllowNetworks] opens chosen networks;
// [NewTransport] and [GuardProxy] are the building blocks for a host's own
// client. A refused address fails the attempt with [ErrAddressForbidden],
// and is not retried.
//
// # Errors
//
// Input the library cannot accept (an empty ID, a URL that is not absolute
// http or https, CR or LF in a header, an oversized payload, a malformed
// secret) is refused with an error wrapping [ErrInvalidInput] before
// anything is stored or sent. A failed delivery returns the recorded attempt
// with an [*AttemptError], which wraps [ErrDeliveryFailed]. Stores report
// [ErrNotFound], [ErrNotPending] and [ErrDuplicate]. Match them with
// errors.Is. Errors and log records never carry a secret, and never quote an
// endpoint URL, which may hold tokens.
//
// # Retention
//
// A Store keeps every attempt until it is purged. With Config.Retention
// set, the worker deletes the final attempts older than Retention (a final
// attempt is old when it was scheduled, and if sent, sent before
// now - Retention) with their responses and headers, when it
// starts and every Config.PurgeInterval, through the Store's Purge
// (PurgeStore), in batches of PurgeBatch. Pending attempts are never
// deleted. An event's payload, which a Store keeps once for all its
// attempts, goes with its last attempt, after which
// Resend returns an error wrapping ErrNotFound. Dispatcher.Purge runs the
// same purge on demand, from any process. Purges from many processes at
// once are harmless, and each batch is a short write, so that claims do
// not wait behind a purge; after each one the purge rests PurgeRest times
// as long as the batch took, so that it takes at most a quarter of the
// database's time from the workers. Retention is off by default: an audit trail is
// not deleted unless the host asks, and SECURITY.md says what that means
// for personal data.
//
// # Observability
//
// A Dispatcher reports OpenTelemetry metrics and traces through the API
// (go.opentelemetry.io/otel); the host brings the SDK and exporter.
// Config.Telemetry names the providers and defaults to the global ones, so
// a host that has set OpenTelemetry up gets both with no code, and one
// that has not pays 3 allocations an attempt (BENCHMARKS.md). The metrics:
//
//	name                          instrument  unit       attributes
//	delivery.attempts             counter     {attempt}  delivery.attempt.status, delivery.attempt.trigger,
//	                                                     delivery.response.status_class ("2xx" … "5xx", "none")
//	http.client.request.duration  histogram   s          http.request.method, http.response.status_code, error.type
//	http.client.active_requests   up-down     {request}  http.request.method
//	delivery.claim.size           histogram   {attempt}  none; its count is the number of claims
//	delivery.queue.due            gauge       {attempt}  none
//	delivery.queue.lag            gauge       s          none
//	delivery.endpoints            gauge       {endpoint} delivery.endpoint.state (paused, probing, disabled)
//
// delivery.attempts counts the attempts that the Dispatcher records
// (sent, or canceled one at a time because an endpoint is gone or its URL
// changed); bulk cancels return their counts to the caller instead.
// http.client.request.duration follows the OpenTelemetry HTTP client
// conventions for the requests that were made; error.type is the status
// code of a failed response, or timeout, address_forbidden or _OTHER.
//
// The queue gauges come from a running worker whose Store implements
// [StatsStore] (memstore and sqlstore do; on sqlstore they read the
// pending attempts from an index alone), at each collection. delivery.queue.due
// counts the pending attempts due now, in flight or not, and
// delivery.queue.lag is how long the oldest of them has been due: the
// figure that tells an operator the workers are falling behind. Both
// leave out paused and disabled endpoints, so one dead customer does not
// make the queue look stalled; delivery.endpoints counts those. Every
// worker process reports the same store-wide figures: aggregate them with
// max, not sum.
//
// Cardinality: no attribute holds an endpoint URL, and none names the
// endpoint unless Telemetry.EndpointAttribute is set, because every
// endpoint would then make time series of its own, which a host with
// 100,000 customers cannot afford. Look an endpoint up with
// [Dispatcher.EndpointHealth] and the audit trail instead.
//
// Each HTTP request has a client span, "POST", with the conventions'
// http.request.method, http.response.status_code, error.type,
// http.request.resend_count, server.address and server.port (never the
// path, query or user info, which may hold tokens), and
// delivery.attempt.id, delivery.event.id and delivery.endpoint.id. The
// attempt ID leads to the audit record, which holds the rest (event type,
// trigger, response): each attribute adds to the SDK's cost of a span, so
// a span carries only what finds the attempt and tells what happened.
// Enqueue, EnqueueTx, Deliver and Resend store the W3C trace context of
// the caller's span with the attempt (Job.TraceParent), and every try of
// it, retries included, in whatever worker process, is a child of that
// span: an operator follows one event from the business request to every
// HTTP try. The trace context is not sent to receivers unless
// Telemetry.SendTraceParent is set, since it tells a third party the
// host's trace IDs.
//
// Logging goes to Config.Logger. Without one, the errors that lose or
// stall work (a claim that fails, an outcome that cannot be recorded, a
// health change that cannot be written) go to slog.Default() at Error
// level, and nothing routine does: a worker whose database is down does
// not fail silently.
//
// # Reading the trail
//
// Store.List pages attempts by event, endpoint or a set of endpoints
// (ListQuery.EndpointIDs), status, event type and time, oldest or newest
// first (ListQuery.Descending). A Store that also implements ActivityStore
// adds up each endpoint's backlog and its successes and failures per
// interval. The portal package builds on both: an http.Handler that hosts
// mount to show their customers, or their operators, the attempts, events
// and health of the endpoints each caller may see.
//
// # Testing a host
//
// The deliverytest package gives a host's tests a receiver that verifies
// signatures and records what each endpoint got, a Config that reaches it,
// a wait until nothing is due, and assertions; examples/outbox runs the
// whole durable path.
//
// # Concurrency
//
// A Dispatcher, a Verifier (once configured) and every Store in this module
// are safe for concurrent use by multiple goroutines.
package delivery
