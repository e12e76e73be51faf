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
// Config.Timeout), or canceled (the event or endpoint went away before the
// attempt was made). That change fills attempted_at and the response fields.
// After it nothing changes the attempt: every Store makes completion a
// compare-and-set on the pending status, so of two concurrent completions
// exactly one wins. No API lets a host edit an attempt; hosts read them with
// [Store.Get] and [Store.List].
//
// Each HTTP request that leaves the process has its own attempt. The library
// never retries in-process behind the record's back: go-retryablehttp's
// retry loop is not used, only its policy, to tell in [AttemptError] whether
// another attempt may help. A retry is a new attempt, with the next
// attempt_number and trigger "retry", which [Store.Complete] inserts in the
// same atomic step that records the failure.
//
// # Guarantees
//
// Deliver stores the pending attempt before it sends anything, and records
// the outcome after, even if the caller's context ends meanwhile. If the
// process dies between the two, the stored attempt stays pending with a
// lease that ends Config.Timeout plus 30 seconds later, so that a worker can
// take it over; such a request may have reached the receiver. Receivers
// must therefore expect a request more than once, and deduplicate by the
// webhook-id header: it is the event ID, the same on every attempt of an
// event.
//
// # Signing
//
// Every request carries the Standard Webhooks headers webhook-id,
// webhook-timestamp (Unix seconds) and webhook-signature: "v1," and the
// base64 HMAC-SHA256 of id.timestamp.payload, once per endpoint secret,
// space-separated, so receivers can rotate secrets without a gap. Secrets
// have the form "whsec_" and base64 ([NewSecret] makes one). The receiving
// side is here too: [Verifier] checks the headers and body in constant time,
// with a timestamp tolerance of five minutes in either direction.
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
// # Concurrency
//
// A Dispatcher, a Verifier (once configured) and every Store in this module
// are safe for concurrent use by multiple goroutines.
package delivery
