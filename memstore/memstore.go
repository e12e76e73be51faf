// Package memstore keeps delivery attempts in memory.
//
// It suits tests, examples and hosts that need no audit trail beyond the
// life of the process: everything is lost when the process ends. For a
// durable store, use sqlstore.
package memstore

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/webhookkit/delivery"
)

// Store is an in-memory delivery.Store. It is safe for concurrent use by
// multiple goroutines, within one process. It hands out copies: a caller
// that changes a returned Attempt, its headers or a payload changes nothing
// stored. Claim costs O((m + k) log n) for k attempts claimed from m
// endpoints out of n pending, so a worker drains a large backlog in time
// proportional to its size; List and Cancel look at every attempt. It
// keeps each event's payload once, however many attempts it has, and
// endpoint health (delivery.HealthStore) for the process.
type Store struct {
	mu sync.Mutex
	// rows holds every attempt by ID.
	rows map[string]*row
	// ids holds every attempt ID, sorted, for List.
	ids []string
	// pending holds the pending attempts, for Cancel.
	pending map[string]*row
	// held holds the leased pending attempts, by lease end; the others are
	// in their endpoint's free heap, by schedule.
	held *rowHeap
	// endpoints holds every endpoint that has had an attempt or health.
	endpoints map[string]*endpoint
	// line holds the endpoints that have claimable attempts and room, in
	// the order of their turns, so that Claim looks at no others.
	line line
	// events holds every event that has an attempt, by ID.
	events map[string]*event
	// numbers holds the attempt numbers taken, per event and endpoint.
	numbers map[pairNumber]bool
}

// pairNumber names one attempt number of an event to an endpoint, which
// at most one attempt may have.
type pairNumber struct {
	event, endpoint string
	number          int
}

func numberOf(a delivery.Attempt) pairNumber {
	return pairNumber{a.EventID, a.EndpointID, a.AttemptNumber}
}

// event is an event as its first attempt stored it, kept once for all
// its attempts.
type event struct {
	typ     string
	payload []byte
	// attempts counts the event's attempts: the event goes with the last.
	attempts int
}

type row struct {
	attempt delivery.Attempt
	event   *event
	lease   delivery.Lease
	// traceParent is the job's Job.TraceParent.
	traceParent string
	// cancelRequested marks a leased attempt whose event or endpoint was
	// canceled: its completion inserts no retry.
	cancelRequested bool
	// reclaimed marks an attempt taken over after a lease ended
	// unreleased: its holder may have sent it. Release keeps the mark.
	reclaimed bool
	// ep is the attempt's endpoint.
	ep *endpoint
	// heap is the heap that holds the pending row, and index its place
	// there.
	heap  *rowHeap
	index int
}

var _ delivery.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		rows:      make(map[string]*row),
		pending:   make(map[string]*row),
		held:      &rowHeap{before: leaseEndsBefore},
		endpoints: make(map[string]*endpoint),
		events:    make(map[string]*event),
		numbers:   make(map[pairNumber]bool),
	}
}

// Insert implements delivery.Store.
func (s *Store) Insert(ctx context.Context, jobs ...delivery.Job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkNew(jobs...); err != nil {
		return err
	}
	for _, j := range jobs {
		s.add(j)
	}
	return nil
}

// checkNew checks that jobs may be inserted. The caller holds s.mu.
func (s *Store) checkNew(jobs ...delivery.Job) error {
	var seen map[string]bool
	var seenNumbers map[pairNumber]bool
	if len(jobs) > 1 {
		seen = make(map[string]bool, len(jobs))
		seenNumbers = make(map[pairNumber]bool, len(jobs))
	}
	for _, j := range jobs {
		a := j.Attempt
		if a.ID == "" {
			return fmt.Errorf("memstore: attempt has no ID: %w", delivery.ErrInvalidInput)
		}
		if a.Status != delivery.StatusPending {
			return fmt.Errorf("memstore: new attempt %s is %v, not pending: %w", a.ID, a.Status, delivery.ErrInvalidInput)
		}
		if err := j.Lease.Validate(); err != nil {
			return fmt.Errorf("memstore: attempt %s: %w", a.ID, err)
		}
		if s.rows[a.ID] != nil || seen[a.ID] {
			return fmt.Errorf("memstore: attempt %s: %w", a.ID, delivery.ErrDuplicate)
		}
		if n := numberOf(a); s.numbers[n] || seenNumbers[n] {
			return fmt.Errorf("memstore: attempt #%d of event %s to endpoint %s: %w", a.AttemptNumber, a.EventID, a.EndpointID, delivery.ErrDuplicate)
		}
		if seen != nil {
			seen[a.ID] = true
			seenNumbers[numberOf(a)] = true
		}
	}
	return nil
}

// add stores a checked job. The caller holds s.mu.
func (s *Store) add(j delivery.Job) {
	r := &row{attempt: utc(j.Attempt.Clone()), lease: j.Lease, traceParent: j.TraceParent}
	r.event = s.events[r.attempt.EventID]
	if r.event == nil {
		r.event = &event{typ: r.attempt.EventType, payload: bytes.Clone(j.Payload)}
		s.events[r.attempt.EventID] = r.event
	}
	r.event.attempts++
	r.ep = s.endpointOf(r.attempt.EndpointID)
	r.lease.Until = r.lease.Until.UTC()
	id := r.attempt.ID
	s.rows[id] = r
	s.numbers[numberOf(r.attempt)] = true
	s.pending[id] = r
	s.queue(r)
	claimable := r.attempt.ScheduledAt
	if r.lease.Owner != "" && r.lease.Until.After(claimable) {
		claimable = r.lease.Until
	}
	if !r.ep.saturated {
		// New work gives its endpoint a turn from when it may be claimed,
		// but not before the Now of the claim that last parked the
		// endpoint (work scheduled earlier was not there to wait then), and
		// not at all when that claim left it without room: new work gives
		// it none, and it waits at its place in line for a lease to end
		// or a completion.
		s.lower(r.ep, later(claimable, r.ep.parkedAt))
	}
	if i, _ := slices.BinarySearch(s.ids, id); i == len(s.ids) {
		s.ids = append(s.ids, id)
	} else {
		s.ids = slices.Insert(s.ids, i, id)
	}
}

// Complete implements delivery.Store.
func (s *Store) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !final.Final() || !final.Status.Valid() {
		return fmt.Errorf("memstore: cannot complete attempt %s as %v: %w", final.ID, final.Status, delivery.ErrInvalidInput)
	}
	if next != nil && next.Attempt.Status != delivery.StatusPending {
		return fmt.Errorf("memstore: next attempt %s is %v, not pending: %w", next.Attempt.ID, next.Attempt.Status, delivery.ErrInvalidInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rows[final.ID]
	if r == nil {
		return fmt.Errorf("memstore: attempt %s: %w", final.ID, delivery.ErrNotFound)
	}
	if r.attempt.Status != delivery.StatusPending {
		return fmt.Errorf("memstore: attempt %s is %v: %w", final.ID, r.attempt.Status, delivery.ErrNotPending)
	}
	insertNext := next != nil && !r.cancelRequested
	if insertNext {
		if err := s.checkNew(*next); err != nil {
			return err
		}
	}
	a := &r.attempt
	a.Status = final.Status
	a.Response = final.Response
	a.ResponseTruncated = final.ResponseTruncated
	a.ResponseStatusCode = final.ResponseStatusCode
	a.ResponseHeaders = final.ResponseHeaders.Clone()
	a.Error = final.Error
	a.AttemptedAt = final.AttemptedAt.UTC()
	a.Duration = final.Duration
	e := r.ep
	paused := !e.health.PausedUntil.IsZero() || e.health.Cooldown > 0
	e.health = e.health.Record(*a)
	s.finish(r)
	// A place freed, or a success lifting a pause, brings a parked
	// endpoint back.
	if e.saturated || a.Status == delivery.StatusSuccess && paused {
		s.wake(e, a.ScheduledAt)
	}
	if insertNext {
		s.add(*next)
	}
	return nil
}

// finish drops what only pending work needs from r. The caller holds s.mu.
func (s *Store) finish(r *row) {
	delete(s.pending, r.attempt.ID)
	heap.Remove(r.heap, r.index)
	r.heap = nil
	r.lease = delivery.Lease{}
	r.cancelRequested = false
	r.reclaimed = false
	delete(r.ep.leased, r)
	r.ep = nil
}

// queue puts the pending row r in the heap its lease calls for, taking it
// out of the other. The caller holds s.mu.
func (s *Store) queue(r *row) {
	h := r.ep.free
	if r.lease.Owner != "" {
		h = s.held
		r.ep.leased[r] = true
	} else {
		delete(r.ep.leased, r)
	}
	if r.heap == h {
		heap.Fix(h, r.index)
		return
	}
	if r.heap != nil {
		heap.Remove(r.heap, r.index)
	}
	heap.Push(h, r)
}

// held reports whether l is a lease still in force at now.
func held(l delivery.Lease, now time.Time) bool {
	return l.Owner != "" && l.Until.After(now)
}

// Release implements delivery.Store.
func (s *Store) Release(ctx context.Context, owner string, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		r := s.pending[id]
		if r == nil || owner == "" || r.lease.Owner != owner {
			continue
		}
		r.lease = delivery.Lease{}
		if r.cancelRequested {
			r.attempt.Status = delivery.StatusCanceled
			s.finish(r)
			continue
		}
		s.queue(r)
		s.wake(r.ep, r.attempt.ScheduledAt)
	}
	return nil
}

// Cancel implements delivery.Store.
func (s *Store) Cancel(ctx context.Context, req delivery.CancelRequest) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := req.Validate(); err != nil {
		return 0, fmt.Errorf("memstore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.pending {
		a := r.attempt
		if req.EventID != "" && a.EventID != req.EventID || req.EndpointID != "" && a.EndpointID != req.EndpointID {
			continue
		}
		if held(r.lease, req.Now) {
			r.cancelRequested = true
			continue
		}
		r.attempt.Status = delivery.StatusCanceled
		s.finish(r)
		n++
	}
	return n, nil
}

// Get implements delivery.Store.
func (s *Store) Get(ctx context.Context, id string) (delivery.Attempt, error) {
	if err := ctx.Err(); err != nil {
		return delivery.Attempt{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rows[id]
	if r == nil {
		return delivery.Attempt{}, fmt.Errorf("memstore: attempt %s: %w", id, delivery.ErrNotFound)
	}
	return r.attempt.Clone(), nil
}

// List implements delivery.Store.
func (s *Store) List(ctx context.Context, q delivery.ListQuery) (delivery.Page, error) {
	if err := ctx.Err(); err != nil {
		return delivery.Page{}, err
	}
	if err := q.Validate(); err != nil {
		return delivery.Page{}, err
	}
	limit := q.PageLimit()
	s.mu.Lock()
	defer s.mu.Unlock()
	var page delivery.Page
	for id := range s.listed(q) {
		a := s.rows[id].attempt
		if !matches(a, q) {
			continue
		}
		if len(page.Attempts) == limit {
			page.Next = page.Attempts[limit-1].ID
			break
		}
		page.Attempts = append(page.Attempts, a.Clone())
	}
	return page, nil
}

// listed returns the IDs that a page of q may hold, in q's order, from its
// cursor on.
func (s *Store) listed(q delivery.ListQuery) iter.Seq[string] {
	start, found := slices.BinarySearch(s.ids, q.After)
	if !q.Descending {
		if found {
			start++
		}
		return slices.Values(s.ids[start:])
	}
	if q.After == "" {
		start = len(s.ids)
	}
	ids := s.ids[:start]
	return func(yield func(string) bool) {
		for _, id := range slices.Backward(ids) {
			if !yield(id) {
				return
			}
		}
	}
}

// matches reports whether a passes q's filters.
func matches(a delivery.Attempt, q delivery.ListQuery) bool {
	switch {
	case q.EventID != "" && a.EventID != q.EventID,
		q.EndpointID != "" && a.EndpointID != q.EndpointID,
		len(q.EndpointIDs) > 0 && !slices.Contains(q.EndpointIDs, a.EndpointID),
		q.EventType != "" && a.EventType != q.EventType,
		len(q.Statuses) > 0 && !slices.Contains(q.Statuses, a.Status),
		!inRange(a.ScheduledAt, q.ScheduledFrom, q.ScheduledTo):
		return false
	case q.AttemptedFrom.IsZero() && q.AttemptedTo.IsZero():
		return true
	}
	return !a.AttemptedAt.IsZero() && inRange(a.AttemptedAt, q.AttemptedFrom, q.AttemptedTo)
}

// inRange reports whether t lies in [from, to), where a zero bound is open.
func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

// Event implements delivery.Store.
func (s *Store) Event(ctx context.Context, eventID string) (delivery.Event, error) {
	if err := ctx.Err(); err != nil {
		return delivery.Event{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.events[eventID]
	if ev == nil {
		return delivery.Event{}, fmt.Errorf("memstore: event %s: %w", eventID, delivery.ErrNotFound)
	}
	return delivery.Event{ID: eventID, Type: ev.typ, Payload: bytes.Clone(ev.payload)}, nil
}

// utc returns a with its times in UTC.
func utc(a delivery.Attempt) delivery.Attempt {
	a.ScheduledAt = a.ScheduledAt.UTC()
	a.AttemptedAt = a.AttemptedAt.UTC()
	return a
}
