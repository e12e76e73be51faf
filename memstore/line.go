package memstore

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/webhookkit/delivery"
)

// endpoint is what the Store keeps of one endpoint: its claimable attempts,
// its leased ones, its turn in the line of claims, and its health. Its
// turn moves as sqlstore's does, so that both stores claim alike.
type endpoint struct {
	id string
	// free holds the pending attempts that no lease holds, by schedule.
	free *rowHeap
	// leased holds the pending attempts with a lease, held or ended.
	leased map[*row]bool
	// readyAt is when the endpoint's turn comes, zero while it has
	// nothing a claim could take; served marks a turn given by a claim,
	// which waits behind an endpoint due at the same time.
	readyAt time.Time
	served  bool
	// saturated marks an endpoint parked because all its places were
	// leased; a completion brings it back with the turn of the claim that
	// parked it, at parkedAt.
	saturated bool
	parkedAt  time.Time
	health    delivery.EndpointHealth
	// index is the endpoint's place in the line, or -1.
	index int
}

// turn is when the endpoint's turn comes: not before a pause ends.
func (e *endpoint) turn() (at time.Time, served bool) {
	if e.health.PausedUntil.After(e.readyAt) {
		return e.health.PausedUntil, false
	}
	return e.readyAt, e.served
}

// lower moves e's turn to x (zero: none) if that comes earlier, but not
// while it is disabled; a turn moved earlier is no longer one given by a
// claim. The caller holds s.mu.
func (s *Store) lower(e *endpoint, x time.Time) {
	if !e.health.DisabledAt.IsZero() || x.IsZero() {
		return
	}
	if e.readyAt.IsZero() || e.readyAt.After(x) {
		e.readyAt, e.served = x, false
	}
	s.place(e)
}

// wake brings e back into the line after a lease of its ended early, with
// the turn of the claim that last parked it, or from since if none did.
// The caller holds s.mu.
func (s *Store) wake(e *endpoint, since time.Time) {
	if !e.parkedAt.IsZero() {
		since = e.parkedAt
	}
	e.saturated = false
	s.lower(e, since)
	e.served = true
	s.place(e)
}

// line is a heap.Interface of the endpoints that may have claimable work,
// in the order of their turns.
type line []*endpoint

func (l line) Len() int { return len(l) }

func (l line) Less(i, j int) bool {
	a, aServed := l[i].turn()
	b, bServed := l[j].turn()
	switch {
	case !a.Equal(b):
		return a.Before(b)
	case aServed != bServed:
		return bServed
	}
	return l[i].id < l[j].id
}

func (l line) Swap(i, j int) {
	l[i], l[j] = l[j], l[i]
	l[i].index, l[j].index = i, j
}

// Push adds x, an *endpoint.
func (l *line) Push(x any) {
	e := x.(*endpoint)
	e.index = len(*l)
	*l = append(*l, e)
}

// Pop removes and returns the last endpoint.
func (l *line) Pop() any {
	old := *l
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*l = old[:len(old)-1]
	e.index = -1
	return e
}

// endpointOf returns the endpoint with the given ID, made when new. The
// caller holds s.mu.
func (s *Store) endpointOf(id string) *endpoint {
	e := s.endpoints[id]
	if e == nil {
		e = &endpoint{id: id, free: &rowHeap{before: scheduledBefore}, leased: map[*row]bool{}, index: -1}
		e.health.EndpointID = id
		s.endpoints[id] = e
	}
	return e
}

// place puts e in the line, moves it to its turn, or takes it out, as its
// state calls for. The caller holds s.mu.
func (s *Store) place(e *endpoint) {
	waits := !e.readyAt.IsZero() && e.health.DisabledAt.IsZero()
	switch {
	case waits && e.index < 0:
		heap.Push(&s.line, e)
	case waits:
		heap.Fix(&s.line, e.index)
	case e.index >= 0:
		heap.Remove(&s.line, e.index)
	}
}

// room returns how many more attempts of e a claim at req may lease, or
// -1 for no limit.
func (e *endpoint) room(req delivery.ClaimRequest) int {
	limit := req.PerEndpoint
	if e.health.Cooldown > 0 && (limit == 0 || limit > 1) {
		limit = 1 // half-open: one probe at a time
	}
	if limit == 0 {
		return -1
	}
	for r := range e.leased {
		if held(r.lease, req.Now) {
			limit--
		}
	}
	return max(limit, 0)
}

// serving is an endpoint served by a claim: how many more of its attempts
// may be leased (-1: no limit), how many the claim may take, and how many
// it took.
type serving struct {
	e                 *endpoint
	room, quota, took int
}

// Claim implements delivery.Store: it serves the endpoints at the head of
// the line in turn, as delivery.Store documents.
func (s *Store) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Leases that have ended free their attempts, which keep the lease to
	// tell the next claim that they were taken over.
	for s.held.Len() > 0 && !held(s.held.rows[0].lease, req.Now) {
		r := heap.Pop(s.held).(*row)
		heap.Push(r.ep.free, r)
	}
	// Take the endpoints whose turn has come, each with its room.
	var turns []*serving
	for len(turns) < req.Limit && s.line.Len() > 0 {
		e := s.line[0]
		if at, _ := e.turn(); at.After(req.Now) {
			break
		}
		heap.Pop(&s.line)
		turns = append(turns, &serving{e: e, room: e.room(req)})
	}
	// Share Limit out one attempt at a time, as far as each room allows.
	for left, more := req.Limit, true; left > 0 && more; {
		more = false
		for _, sv := range turns {
			if left > 0 && (sv.room < 0 || sv.quota < sv.room) {
				sv.quota++
				left--
				more = true
			}
		}
	}
	var jobs []delivery.Job
	for _, sv := range turns {
		for sv.took < sv.quota {
			r := s.nextDue(sv.e, req.Now)
			if r == nil {
				break
			}
			jobs = append(jobs, s.lease(r, req, sv.e.health.Cooldown > 0))
			sv.took++
		}
		s.park(sv, req)
	}
	slices.SortFunc(jobs, func(a, b delivery.Job) int {
		if c := a.Attempt.ScheduledAt.Compare(b.Attempt.ScheduledAt); c != 0 {
			return c
		}
		return strings.Compare(a.Attempt.ID, b.Attempt.ID)
	})
	return jobs, nil
}

// park gives sv's endpoint its next turn after a claim: behind every
// endpoint waiting now when it may have more due work and room; when its
// first lease ends, or a completion frees a place, when it has no room; or
// when its next attempt becomes due (or a lease ends), or never, when it
// has none due. The caller holds s.mu.
func (s *Store) park(sv *serving, req delivery.ClaimRequest) {
	e := sv.e
	var liveUntil time.Time
	for r := range e.leased {
		if held(r.lease, req.Now) && (liveUntil.IsZero() || r.lease.Until.Before(liveUntil)) {
			liveUntil = r.lease.Until
		}
	}
	e.parkedAt, e.saturated = req.Now, false
	switch {
	case sv.room >= 0 && sv.took == sv.room:
		e.readyAt, e.served, e.saturated = liveUntil, true, true
	case sv.took == sv.quota && sv.took > 0:
		e.readyAt, e.served = req.Now, true
	default:
		e.readyAt, e.served = time.Time{}, false
		if e.free.Len() > 0 {
			e.readyAt = e.free.rows[0].attempt.ScheduledAt
		}
		if !liveUntil.IsZero() && (e.readyAt.IsZero() || liveUntil.Before(e.readyAt)) {
			e.readyAt = liveUntil
		}
	}
	s.place(e)
}

// nextDue returns e's first attempt that is due and claimable at now, or
// nil. The caller holds s.mu.
func (s *Store) nextDue(e *endpoint, now time.Time) *row {
	for e.free.Len() > 0 {
		r := e.free.rows[0]
		if r.attempt.ScheduledAt.After(now) {
			return nil
		}
		if !held(r.lease, now) {
			return r
		}
		// Freed by an earlier claim whose Now was later than this one's.
		s.queue(r)
	}
	return nil
}

// lease leases r as req asks and returns its job. The caller holds s.mu.
func (s *Store) lease(r *row, req delivery.ClaimRequest, probe bool) delivery.Job {
	r.reclaimed = r.reclaimed || r.lease.Owner != ""
	r.lease = delivery.Lease{Owner: req.Owner, Until: req.Until.UTC()}
	s.queue(r)
	return delivery.Job{
		Attempt:     r.attempt.Clone(),
		Payload:     bytes.Clone(r.event.payload),
		Lease:       r.lease,
		Reclaimed:   r.reclaimed,
		Probe:       probe,
		TraceParent: r.traceParent,
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
