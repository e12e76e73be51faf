package delivery

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by a Store, matched with errors.Is. Every Store,
// including a host's own, returns exactly these for the conditions named in
// the Store method docs; the storetest suite checks that.
var (
	// ErrNotFound: no attempt (or event) has the given ID.
	ErrNotFound = errors.New("delivery: not found")
	// ErrNotPending: the attempt is already final, so it cannot be
	// completed again. Nothing was changed.
	ErrNotPending = errors.New("delivery: attempt is not pending")
	// ErrDuplicate: an attempt with the same ID is already stored. Nothing
	// was stored.
	ErrDuplicate = errors.New("delivery: duplicate attempt id")
)

// Store keeps delivery attempts, and the payloads their pending work needs.
// The Dispatcher writes through it; hosts read attempts through it.
//
// A Store must be safe for concurrent use by multiple goroutines, and, where
// it says so, by multiple processes. Every method is atomic: it takes effect
// completely or not at all.
//
// Times: a Store keeps every time to at least microsecond precision and
// returns it in UTC. The Dispatcher truncates times to the microsecond before
// it writes them, so what it returns equals what the Store holds. A zero time
// (AttemptedAt of a pending attempt) stays zero.
//
// Values: a Store returns every field exactly as written, except that it
// may hand back an empty ResponseHeaders map as nil. Response may hold any
// bytes; the other strings are valid UTF-8 without NUL bytes (the
// Dispatcher writes no others), and a Store may refuse others, or values
// longer than its columns, with an error that stores nothing.
//
// Returned values are the caller's: a Store never keeps or shares a slice or
// map it returns, nor one it was given.
//
// The memstore and sqlstore packages implement Store. A host's own
// implementation is correct when it passes storetest.Run.
type Store interface {
	// Insert stores new pending attempts with their payloads and optional
	// leases, all of them or none. It returns an error wrapping ErrDuplicate
	// if an attempt with one of their IDs is already stored. An attempt
	// whose Status is not StatusPending is rejected with an error.
	Insert(ctx context.Context, jobs ...Job) error

	// Complete makes the pending attempt with ID final.ID final: it sets
	// Status (success, failure or canceled), Response, ResponseTruncated,
	// ResponseStatusCode, ResponseHeaders, Error, AttemptedAt and Duration
	// from final, and ignores final's other fields. When next is not nil,
	// it inserts next in the same atomic step, so that a retry can never be
	// lost between the two; next must be pending.
	//
	// Complete is a compare-and-set on the pending status: of concurrent
	// completions of one attempt exactly one succeeds. It returns an error
	// wrapping ErrNotFound if no attempt has the ID, ErrNotPending if the
	// attempt is already final, and ErrDuplicate if next's ID is taken; in
	// each case nothing changes. If the event's pending attempts were
	// canceled while this attempt was leased (see Cancel), final is stored
	// and next is dropped.
	Complete(ctx context.Context, final Attempt, next *Job) error

	// Claim leases up to req.Limit due pending attempts to req.Owner until
	// req.Until, and returns them with their payloads, the earliest
	// ScheduledAt first (ties by ID). Due means ScheduledAt is not after
	// req.Now; claimable means it has no lease, or its lease ended at or
	// before req.Now. A Job whose earlier lease ended unreleased comes back
	// with Reclaimed set: its last holder may have sent it. Of concurrent
	// claims, at most one gets a given attempt. Claim returns an empty slice,
	// not an error, when nothing is due.
	Claim(ctx context.Context, req ClaimRequest) ([]Job, error)

	// Release ends owner's leases on the given pending attempts, so that
	// they can be claimed at once, and not as Reclaimed. IDs that are
	// unknown, final, or leased by another owner are left alone.
	Release(ctx context.Context, owner string, ids ...string) error

	// Cancel makes the pending attempts that match req canceled, and returns
	// how many it changed. An attempt leased at req.Now (in flight) is not
	// canceled: it keeps the outcome that its holder records, but the retry
	// its completion would insert is dropped. req must name an event, an
	// endpoint, or both.
	Cancel(ctx context.Context, req CancelRequest) (int, error)

	// Get returns the attempt with the given ID, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, id string) (Attempt, error)

	// List returns the attempts that match q in ascending ID order, at most
	// q.Limit of them, and the cursor of the next page. Paging with
	// q.After set to each Page.Next visits every attempt stored before the
	// first call exactly once, however many are inserted meanwhile.
	List(ctx context.Context, q ListQuery) (Page, error)

	// Event returns the event with the given ID as stored with its attempt
	// of greatest ID: ID, Type and Payload. It returns an error wrapping
	// ErrNotFound when no attempt of the event is stored.
	Event(ctx context.Context, eventID string) (Event, error)
}

// Job is an attempt together with what sending it needs: the payload, and
// who holds it.
type Job struct {
	// Attempt is the pending attempt.
	Attempt Attempt
	// Payload is the request body: the event's payload.
	Payload []byte
	// Lease, when set, marks the attempt as held by a sender until
	// Lease.Until.
	Lease Lease
	// Reclaimed is set by Claim when the attempt had an earlier lease that
	// ended without being released: its holder may have sent the request.
	// Insert ignores it.
	Reclaimed bool
}

// Lease marks a pending attempt as held by one sender. The zero Lease holds
// nothing.
type Lease struct {
	// Owner identifies the holder, such as a Dispatcher.
	Owner string
	// Until is when the lease ends if it is not released.
	Until time.Time
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
	// Statuses, if not empty, keeps attempts with any of these statuses.
	Statuses []Status
	// ScheduledFrom and ScheduledTo bound ScheduledAt.
	ScheduledFrom, ScheduledTo time.Time
	// AttemptedFrom and AttemptedTo bound AttemptedAt. Either one set
	// leaves out attempts that were never sent.
	AttemptedFrom, AttemptedTo time.Time
	// After is the cursor: only attempts with a greater ID are listed.
	// Empty starts at the beginning; pass Page.Next to continue.
	After string
	// Limit is the page size; see DefaultListLimit and MaxListLimit.
	Limit int
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
	// Attempts are in ascending ID order.
	Attempts []Attempt
	// Next is the cursor of the next page, or empty when this page is the
	// last.
	Next string
}
