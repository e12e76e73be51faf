package delivery

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Sentinel errors returned by a Store, matched with errors.Is. Every Store,
// including a host's own, returns exactly these for the conditions named in
// the Store method docs; the storetest suite checks that. A Store rejects a
// request that breaks a method's preconditions with an error wrapping
// ErrInvalidInput, and changes nothing.
var (
	// ErrNotFound: no attempt (or event) has the given ID.
	ErrNotFound = errors.New("delivery: not found")
	// ErrNotPending: the attempt is already final, so it cannot be
	// completed again. Nothing was changed.
	ErrNotPending = errors.New("delivery: attempt is not pending")
	// ErrDuplicate: an attempt with the same ID, or of the same event to
	// the same endpoint with the same attempt number, is already stored.
	// Nothing was stored. Enqueue, EnqueueTx and Deliver return it for an
	// event already enqueued to that endpoint.
	ErrDuplicate = errors.New("delivery: duplicate attempt")
)

// The largest values the Dispatcher writes, beyond the input limits
// (MaxIDLength, MaxURLLength) that it checks on the way in. Every Store
// must hold values of these sizes; a Store that refused one would leave an
// outcome unrecorded, its attempt pending until the lease ends, and the real
// response lost.
const (
	// MaxErrorLength is the longest Attempt.Error, in bytes. The
	// Dispatcher cuts a longer error message at a character boundary.
	MaxErrorLength = 4096
	// MaxResponseHeaderBytes bounds Attempt.ResponseHeaders: the bytes of
	// every name and value, added up. The Dispatcher records the headers
	// in name order while they fit, and leaves out the rest.
	MaxResponseHeaderBytes = 64 << 10
	// MaxBodySize is the largest Config.MaxPayloadSize and
	// Config.MaxResponseBodySize: a Store holds payloads and responses of
	// this many bytes.
	MaxBodySize = 8 << 20
)

// Store keeps delivery attempts, and each event's payload once.
// The Dispatcher writes through it; hosts read attempts through it. The
// memstore and sqlstore packages implement it; a host's own implementation
// is correct when it passes storetest.Run, and the rules below are all
// that the suite checks.
//
// # Concurrency and processes
//
// A Store is safe for concurrent use by multiple goroutines. Every method is
// atomic: it takes effect completely or not at all, and concurrent calls
// behave as if they ran one after another. A Store that documents itself as
// safe for multiple processes (sqlstore on PostgreSQL and MySQL) keeps
// every rule here when its methods run in several processes on one
// database: Claim never leases an attempt to two owners at once, Complete
// is a compare-and-set, and IDs and attempt numbers stay unique. memstore
// and sqlstore on SQLite serve one process.
//
// # Leases and clocks
//
// A lease marks a pending attempt as held by one sender until a time. A
// Store has no clock of its own: Claim and Cancel judge leases by the Now
// of the request, the caller's clock. Processes sharing a Store need clocks
// that agree to well within the margin between Config.Lease and
// Config.Timeout. Release takes no time: it ends the caller's lease whether
// or not it has run out, unless another claim has taken the attempt since.
//
// # Reclaimed attempts
//
// An attempt whose lease ended without a Complete or a Release may have
// been sent by its holder, who then died. Claim hands it out with
// Job.Reclaimed set, and the mark stays on the attempt until it is
// completed: a Release by the new holder keeps it, so that whoever claims
// it next still learns that a request may have gone out. The Dispatcher
// records such an attempt as failed ("lease expired") and retries it, so
// that every request that may have left a process is on record.
//
// # Attempt numbers
//
// At most one attempt of an event to an endpoint has a given AttemptNumber:
// Insert and Complete return ErrDuplicate rather than store a second one.
// The Dispatcher numbers the attempts of each pair 1, 2, 3, and so on, so
// the event ID is an idempotency key: enqueueing an event to an endpoint
// twice stores it once.
//
// # Events
//
// An event ID names one event. The first attempt of an event that a Store
// stores (by Insert, or as Complete's next) stores the event with it: its
// ID, its type (the attempt's EventType) and the job's Payload. Every later
// attempt of the event shares that event: Claim returns the stored payload
// with each of them, and the Payload of their jobs is not stored (an
// attempt keeps its own EventType). Among the jobs of one Insert, the first
// of an event comes first. Of concurrent inserts of one new event, exactly
// one stores it. The event goes when its last attempt is deleted (see
// PurgeStore), and not before.
//
// # Fair claims
//
// Claim serves endpoints in turn, not attempts in schedule order, so that
// one endpoint's backlog never delays another endpoint's due attempt:
//   - Each endpoint with due, claimable attempts waits in line from the
//     time its earliest one became due, but not from before the Now of
//     the last claim that took its turn (served it, or found it without
//     room or due work): work scheduled earlier (by a process whose clock
//     lags) was not there to wait then. A claim serves the
//     endpoints at the head of the line, taking from each as many as it
//     may (up to PerEndpoint leased at once), in turn, until Limit runs
//     out. A Store may go round them one attempt at a time, so that a
//     claim whose Limit runs out serves as many endpoints as it can, or
//     serve each in one piece, so that its attempts are sent and recorded
//     together; either way each endpoint served gets its earliest
//     attempts. An endpoint served that still has due work goes to the
//     back of the line, behind every endpoint already waiting at the
//     claim's Now; one served to its limit waits at its place, whatever
//     new work it gets, until one of its attempts is completed or
//     released, or a lease of it ends.
//   - The turns follow the claims' Now: an endpoint served by a claim
//     waits for its next turn until that claim's Now, so that a claim
//     with an earlier Now (a process whose clock lags) does not serve it.
//   - Hence, with claims at increasing times, an endpoint that has a due,
//     claimable attempt and room under PerEndpoint is served before any
//     other endpoint is served twice.
//   - An endpoint with PerEndpoint attempts leased is not served until
//     one of them is completed, released, or its lease ends. Leases held
//     by Insert (as Deliver does) count too. A Store safe for several
//     processes keeps the limit across all of them.
//
// # Contexts
//
// Every method returns an error wrapping the context's error, and changes
// nothing, when its context is done before it starts. A context that ends
// while a write runs may leave it applied or not, as with any database
// write; it never leaves it half applied.
//
// # Times
//
// A Store keeps every time to at least microsecond precision and returns it
// in UTC. The Dispatcher truncates times to the microsecond before it
// writes them, so what it returns equals what the Store holds. A zero time
// (AttemptedAt of an attempt never sent) stays zero. Duration is kept to
// the nanosecond.
//
// # Values
//
// A Store returns every field exactly as written, except that it may hand
// back an empty ResponseHeaders map as nil. Response and payloads may hold
// any bytes; the other strings are valid UTF-8 without NUL bytes (the
// Dispatcher writes no others), and a Store may refuse others, or values
// larger than the limits above, with an error that stores nothing.
//
// Returned values are the caller's: a Store never keeps or shares a slice or
// map it returns, nor one it was given.
type Store interface {
	// Insert stores new pending attempts with their optional leases, and
	// the events of those whose event is not stored yet (see Events), all
	// of them or none. It returns an error wrapping
	// ErrDuplicate if an attempt with one of their IDs, or with the same
	// event, endpoint and attempt number as one of them, is already stored
	// or comes twice among jobs. It returns an error wrapping
	// ErrInvalidInput for an attempt with an empty ID or a Status other
	// than StatusPending, and for a lease with an Owner but no Until, or
	// an Until but no Owner. Inserting no jobs does nothing and returns
	// nil (or the context's error).
	Insert(ctx context.Context, jobs ...Job) error

	// Complete makes the pending attempt with ID final.ID final: it sets
	// Status (success, failure or canceled), Response, ResponseTruncated,
	// ResponseStatusCode, ResponseHeaders, Error, AttemptedAt and Duration
	// from final, ends its lease, and ignores final's other fields. When
	// next is not nil, it inserts next, with its lease, as Insert would, in
	// the same atomic step, so that a retry can never be lost between the
	// two.
	//
	// Complete is a compare-and-set on the pending status: of concurrent
	// completions of one attempt exactly one succeeds, whoever holds the
	// lease, and a completion of an attempt whose lease has ended is
	// accepted as long as the attempt is pending. If a Cancel matched the
	// attempt while it was leased (by its event or by its endpoint), final
	// is stored and next is dropped, without error.
	//
	// Errors, in this order of precedence; in each case nothing changes:
	//   - ErrInvalidInput when final.Status is StatusPending or undefined,
	//     or next is not pending;
	//   - ErrNotFound when no attempt has the ID;
	//   - ErrNotPending when the attempt is already final;
	//   - ErrDuplicate when next would be inserted and Insert would refuse
	//     it as a duplicate. A next that is dropped because of a cancel is
	//     not checked.
	Complete(ctx context.Context, final Attempt, next *Job) error

	// Claim leases up to req.Limit due, claimable, pending attempts to
	// req.Owner until req.Until, and returns them with their events'
	// payloads (see Events), the
	// earliest ScheduledAt first (ties by ID). Due means ScheduledAt is not
	// after req.Now; claimable means it has no lease, or its lease ended at
	// or before req.Now, by this request's Now alone (an earlier claim with
	// a later Now ends no lease for this one). A Job whose earlier lease
	// ended without a Complete or a Release comes back with Reclaimed set,
	// as does one that was reclaimed before and released since (see
	// Reclaimed attempts above). Of concurrent claims, at most one gets a
	// given attempt. Claim returns an empty slice, not an error, when
	// nothing is due, and an error wrapping ErrInvalidInput when req.Owner
	// is empty, req.Limit is not positive, req.PerEndpoint is negative, or
	// req.Until is not after req.Now.
	//
	// Claim is fair between endpoints (see Fair claims above): when
	// req.PerEndpoint is positive, it never leaves more than that many
	// attempts of one endpoint leased at req.Now, counting the leases of
	// every owner; and endpoints with due work take turns.
	Claim(ctx context.Context, req ClaimRequest) ([]Job, error)

	// Release ends owner's leases on the given pending attempts, so that
	// they can be claimed at once: the caller states that it did not send
	// them. It ends a lease that has run out too, as long as no other claim
	// took the attempt since. An attempt that a Cancel matched while it was
	// leased becomes canceled instead. The Reclaimed mark stays. IDs that
	// are unknown, final, or leased by another owner, and an empty owner,
	// are left alone without error.
	Release(ctx context.Context, owner string, ids ...string) error

	// Cancel makes the pending attempts that match req canceled, and returns
	// how many it changed. An attempt leased at req.Now (in flight) is not
	// canceled: it keeps the outcome that its holder records, but the retry
	// its completion would insert is dropped, and a Release makes it
	// canceled. That mark survives the lease: if the lease ends and another
	// owner reclaims and completes the attempt, that completion's retry is
	// dropped too. Cancel returns an error wrapping ErrInvalidInput when
	// req names neither an event nor an endpoint.
	Cancel(ctx context.Context, req CancelRequest) (int, error)

	// Get returns the attempt with the given ID, or an error wrapping
	// ErrNotFound (also for the empty ID).
	Get(ctx context.Context, id string) (Attempt, error)

	// List returns the attempts that match q in ascending ID order (in
	// descending order with q.Descending: newest first), whatever the order
	// of their schedules or of their inserts, at most q.PageLimit() of
	// them, and the cursor of the next page: the ID of the page's last
	// attempt when more matching attempts follow it, and empty when none
	// do, even if the page is full. Paging with q.After set to each
	// Page.Next visits every attempt stored before the first call exactly
	// once, however many are inserted meanwhile. No match is an empty page,
	// not an error. A query that q.Validate refuses is an error wrapping
	// ErrInvalidInput.
	List(ctx context.Context, q ListQuery) (Page, error)

	// Event returns the event with the given ID as its first stored
	// attempt stored it (see Events): ID, Type and Payload, kept while any
	// of its attempts is, final or not. A payload inserted nil or empty
	// comes back empty (nil or zero length). It returns an error wrapping
	// ErrNotFound when no attempt of the event is stored.
	Event(ctx context.Context, eventID string) (Event, error)
}

// Job is an attempt together with what sending it needs: the payload, and
// who holds it.
type Job struct {
	// Attempt is the pending attempt.
	Attempt Attempt
	// Payload is the request body: the event's payload. A Store keeps it
	// with the event's first attempt only (see Events), and Claim returns
	// the payload it kept.
	Payload []byte
	// Lease, when set, marks the attempt as held by a sender until
	// Lease.Until.
	Lease Lease
	// Reclaimed is set by Claim when the attempt had an earlier lease that
	// ended without being released: its holder may have sent the request.
	// Insert ignores it.
	Reclaimed bool
	// Probe is set by the Claim of a HealthStore when the attempt is the
	// one probe of an endpoint whose circuit breaker is half-open: its
	// success closes the breaker. Insert ignores it.
	Probe bool
	// TraceParent is the W3C traceparent of the caller's span when the
	// delivery began (Enqueue, Deliver, Resend and the like), or empty;
	// retries and superseding attempts inherit it. The Dispatcher's span of
	// the attempt takes it as its parent, in whatever process sends it. A
	// Store keeps it with the attempt, printable ASCII of up to
	// MaxTraceParentLength bytes, and returns it from Claim. It is not
	// part of the Attempt record.
	TraceParent string
}

// event returns the event that j delivers.
func (j Job) event() Event {
	return Event{ID: j.Attempt.EventID, Type: j.Attempt.EventType, Payload: j.Payload}
}

// MaxTraceParentLength is the longest Job.TraceParent a Store holds. A
// version 00 traceparent has 55 bytes; the margin is for later versions.
const MaxTraceParentLength = 128

// Lease marks a pending attempt as held by one sender. The zero Lease holds
// nothing.
type Lease struct {
	// Owner identifies the holder, such as a Dispatcher.
	Owner string
	// Until is when the lease ends if it is not released.
	Until time.Time
}

// Validate returns an error wrapping ErrInvalidInput for a lease that has
// an Owner but no Until, or an Until but no Owner. Stores call it from
// Insert.
func (l Lease) Validate() error {
	if (l.Owner == "") != l.Until.IsZero() {
		return invalid("a lease needs both an owner and an end, or neither")
	}
	return nil
}

// ClaimRequest says what Store.Claim should lease.
type ClaimRequest struct {
	// Owner is who takes the leases. Required.
	Owner string
	// Now is the current time: attempts due at or before it are claimed.
	Now time.Time
	// Until is when the leases end. It must be after Now.
	Until time.Time
	// Limit is the most attempts to claim. It must be positive.
	Limit int
	// PerEndpoint, when positive, is the most attempts of one endpoint
	// that may be leased at once after the claim, counting every owner's
	// leases that hold at Now. Zero means no limit.
	PerEndpoint int
}

// Validate returns an error wrapping ErrInvalidInput when req breaks
// Claim's preconditions. Stores call it from Claim.
func (req ClaimRequest) Validate() error {
	if req.Owner == "" || req.Limit <= 0 || req.PerEndpoint < 0 || !req.Until.After(req.Now) {
		return invalid("a claim needs an owner, a positive limit, a per-endpoint limit that is not negative, and Until after Now")
	}
	return nil
}

// CancelRequest selects the pending attempts that Store.Cancel cancels.
type CancelRequest struct {
	// EventID, if set, selects the event's attempts.
	EventID string
	// EndpointID, if set, selects the endpoint's attempts.
	EndpointID string
	// Now is the current time, to tell which leases are held.
	Now time.Time
}

// Validate returns an error wrapping ErrInvalidInput when req names
// neither an event nor an endpoint. Stores call it from Cancel.
func (req CancelRequest) Validate() error {
	if req.EventID == "" && req.EndpointID == "" {
		return invalid("a cancel needs an event ID or an endpoint ID")
	}
	return nil
}

// The page sizes of Store.List.
const (
	// DefaultListLimit is the page size when ListQuery.Limit is 0 or less.
	DefaultListLimit = 100
	// MaxListLimit is the largest page; a larger ListQuery.Limit is cut to it.
	MaxListLimit = 1000
)

// ListQuery filters and pages Store.List. The zero ListQuery lists every
// attempt, DefaultListLimit at a time. Filters combine with AND; time ranges
// are half-open, [From, To), and a zero bound is open.
type ListQuery struct {
	// EventID, if set, keeps the event's attempts.
	EventID string
	// EndpointID, if set, keeps the endpoint's attempts.
	EndpointID string
	// EndpointIDs, if not empty, keeps the attempts of any of these
	// endpoints: at most MaxListEndpoints of them. A portal lists one
	// customer's endpoints with it.
	EndpointIDs []string
	// EventType, if set, keeps the attempts of events of this type.
	EventType string
	// Statuses, if not empty, keeps attempts with any of these statuses.
	Statuses []Status
	// ScheduledFrom and ScheduledTo bound ScheduledAt.
	ScheduledFrom, ScheduledTo time.Time
	// AttemptedFrom and AttemptedTo bound AttemptedAt. Either one set
	// leaves out attempts that were never sent.
	AttemptedFrom, AttemptedTo time.Time
	// Descending lists the newest attempts first: in descending ID order.
	Descending bool
	// After is the cursor: only attempts that come after it in the
	// listing's order are listed (with a greater ID, or a smaller one when
	// Descending). Empty starts at the beginning; pass Page.Next to
	// continue.
	After string
	// Limit is the page size; see DefaultListLimit and MaxListLimit.
	Limit int
}

// MaxListEndpoints is the most endpoint IDs a ListQuery or an
// ActivityQuery may name.
const MaxListEndpoints = 1000

// Validate returns an error wrapping ErrInvalidInput when q names more than
// MaxListEndpoints endpoints, or an empty one. Stores call it from List.
func (q ListQuery) Validate() error {
	return validEndpointIDs(q.EndpointIDs)
}

// validEndpointIDs checks a list of endpoint IDs to filter by.
func validEndpointIDs(ids []string) error {
	if len(ids) > MaxListEndpoints {
		return invalid("%d endpoint IDs, more than the %d a query may name", len(ids), MaxListEndpoints)
	}
	if slices.Contains(ids, "") {
		return invalid("an empty endpoint ID in a query")
	}
	return nil
}

// PageLimit returns the page size that q asks for, after the defaults and
// the cap are applied.
func (q ListQuery) PageLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultListLimit
	case q.Limit > MaxListLimit:
		return MaxListLimit
	}
	return q.Limit
}

// Page is one page of Store.List.
type Page struct {
	// Attempts are in ascending ID order, or descending when the query
	// asked for it.
	Attempts []Attempt
	// Next is the cursor of the next page, or empty when this page is the
	// last.
	Next string
}
