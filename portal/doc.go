// Package portal serves the audit trail of webhook deliveries to people: an
// http.Handler with HTML pages and a JSON API, to mount in a host's own
// server and give to its customers, or to its operators.
//
// # Pages
//
//   - Endpoints (the root): each endpoint in scope with its health (failing
//     streak, paused, disabled, last error), its backlog of pending
//     attempts, and a chart of its successes and failures per hour over the
//     last 24 hours, drawn on the server as inline SVG. The backlog and the
//     chart need a Store that is a delivery.ActivityStore (memstore and
//     sqlstore are).
//   - attempts: attempts newest first, filtered by endpoint, status, event
//     type, event ID and the time they were sent; a cursor pages them.
//   - attempts/{id}: one attempt: the URL as recorded (a password in it
//     hidden), the headers the request was sent with as far as they hold
//     no secret, the response's status, headers and body (indented when
//     JSON, marked when cut short or not UTF-8), timing, error and trigger,
//     and links to the attempts before and after it.
//   - events/{id}: an event's payload and the timeline of its attempts.
//
// The pages are plain HTML and CSS: no script, no build step.
//
// # Actions
//
// Three actions, each a POST from a button on a page or to the API: resend
// an event to an endpoint (Dispatcher.Resend), enqueue again an endpoint's
// events that failed since a time (Dispatcher.RedeliverFailed), and resume
// an endpoint that the library paused or disabled
// (Dispatcher.ResumeEndpoint). Config turns each off, or all of them with
// ReadOnly. Every POST goes through http.CrossOriginProtection: a form on
// another site cannot submit one.
//
// # JSON API
//
// The same data, under api/:
//
//	GET  api/endpoints[?after=ID]             {"endpoints": [...], "next": "ID"}
//	GET  api/attempts[?endpoint=&status=&type=&event=&from=&to=&cursor=]
//	                                          {"attempts": [...], "next": "ID"}
//	GET  api/attempts/{id}                    an attempt, with previous_attempt_id and next_attempt_id
//	GET  api/events/{id}                      {"id", "type", "payload", "attempts": [...]}
//	POST api/events/{id}/resend               form endpoint=ID: {"attempt": {...}}
//	POST api/endpoints/{id}/redeliver         form since=TIME: {"redelivered": N}
//	POST api/endpoints/{id}/resume            {"resumed": true}
//
// Attempts carry the field names of delivery.Attempt: id, event_id,
// endpoint_id, endpoint_url, status, response, response_status_code,
// response_headers, attempted_at, scheduled_at and the rest. Times are RFC
// 3339; a filter's from and to also take 2006-01-02T15:04, read as UTC.
// Errors are {"error": "..."} with the HTTP status: 400 for a bad filter,
// 403 for no scope or an action turned off, 404 for anything not found or
// out of scope.
//
// # Who sees what
//
// The handler does no authentication: put the host's own in front of it,
// and let Config.Scope map each request to the endpoints its caller may
// see, for example from the session the host's middleware put in the
// request's context:
//
//	h, err := portal.New(portal.Config{
//		Store:      store,
//		Dispatcher: dispatcher,
//		Scope: func(r *http.Request) ([]string, error) {
//			customer, ok := customerFrom(r.Context()) // the host's auth
//			if !ok {
//				return nil, errors.New("not signed in")
//			}
//			return customer.EndpointIDs, nil
//		},
//	})
//	mux.Handle("/webhooks/", requireLogin(http.StripPrefix("/webhooks", h)))
//
// Every ID a request names (attempt, event, endpoint, cursor) is checked
// against the scope: an attempt of another endpoint, or an event that went
// to none of the caller's endpoints, is answered 404 as if it did not
// exist, and a resend needs the event to have gone to that endpoint
// before. Without a Scope, every request is answered 403.
//
// # What it shows, and what it never does
//
// Response bodies and headers, payloads and error messages come from
// receivers and event producers, and are untrusted: they are shown as
// text, escaped by html/template, never as markup. Every response carries a
// Content-Security-Policy that allows no script at all, and
// X-Content-Type-Options: nosniff. No page or API response holds a signing
// secret, a signature, or the endpoint's own request headers.
//
// # Cost
//
// A page of attempts reads one index range per endpoint in scope (up to
// 32 endpoints; beyond, one filtered scan in ID order); the endpoints page
// reads each endpoint's health, and the backlog and chart of a page of
// endpoints in two index-backed statements. BENCHMARKS.md gives the
// render times on a million attempts.
package portal
