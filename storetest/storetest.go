// Package storetest is the conformance suite of delivery.Store.
//
// Every Store runs it: memstore, each sqlstore dialect, and a host's own.
// It checks every rule that delivery.Store documents, as far as one process
// calling the interface can see it: a Store written from those docs alone
// and passing the suite needs no other test of its core semantics.
// Two things lie beyond its sight, and a Store that offers them tests them
// itself: transactions with the host's database (such as sqlstore's
// InsertTx, which is not part of delivery.Store), and safety across
// processes, for a Store that promises it (sqlstore runs real worker
// processes against PostgreSQL and MySQL):
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) delivery.Store {
//			return newMyStore(t) // empty, and cleaned up with t.Cleanup
//		})
//	}
package storetest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// Run runs the suite. newStore must return a new, empty Store for each call;
// subtests run in parallel, each with its own Store.
func Run(t *testing.T, newStore func(t *testing.T) delivery.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s delivery.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"LargestValues", testLargestValues},
		{"InsertRejects", testInsertRejects},
		{"InsertLeases", testInsertLeases},
		{"AttemptNumbers", testAttemptNumbers},
		{"ConcurrentInserts", testConcurrentInserts},
		{"Preconditions", testPreconditions},
		{"GetNotFound", testGetNotFound},
		{"CompleteOnce", testCompleteOnce},
		{"CompleteRejects", testCompleteRejects},
		{"CompleteWithNext", testCompleteWithNext},
		{"CompletePrecedence", testCompletePrecedence},
		{"ConcurrentCompletions", testConcurrentCompletions},
		{"Claim", testClaim},
		{"ClaimLeases", testClaimLeases},
		{"ClaimEarlierNow", testClaimEarlierNow},
		{"ClaimBackdatedWork", testClaimBackdatedWork},
		{"ConcurrentClaims", testConcurrentClaims},
		{"TraceParent", testTraceParent},
		{"QueueStats", testQueueStats},
		{"FairClaims", testFairClaims},
		{"ConcurrentFairClaims", testConcurrentFairClaims},
		{"Health", testHealth},
		{"HealthPause", testHealthPause},
		{"HealthProbe", testHealthProbe},
		{"HealthDisable", testHealthDisable},
		{"Release", testRelease},
		{"ReleaseKeepsReclaimed", testReleaseKeepsReclaimed},
		{"ReleaseEndedLease", testReleaseEndedLease},
		{"Cancel", testCancel},
		{"CancelInFlight", testCancelInFlight},
		{"CancelSurvivesTakeover", testCancelSurvivesTakeover},
		{"FinalNeverChanges", testFinalNeverChanges},
		{"ListFilters", testListFilters},
		{"ListPaging", testListPaging},
		{"ListOrder", testListOrder},
		{"ListNewest", testListNewest},
		{"ListInvalid", testListInvalid},
		{"Activity", testActivity},
		{"PagingDuringInserts", testPagingDuringInserts},
		{"Event", testEvent},
		{"ConcurrentEvent", testConcurrentEvent},
		{"Purge", testPurge},
		{"ConcurrentPurges", testConcurrentPurges},
		{"Copies", testCopies},
		{"CanceledContext", testCanceledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// base is a time with microseconds, the precision stores keep.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// idBase starts every ID the suite makes: the time and part of the entropy
// of a ULID, so that IDs look like the Dispatcher's and differ between runs.
var idBase = ulid.Make().String()[:16]

// idSeq ends every ID, so that IDs increase strictly in the order they are
// made, across goroutines. (ULIDs made concurrently by several goroutines
// need not.)
var idSeq atomic.Uint64

// newID returns a new 26-character ID, greater than every earlier one.
func newID() string { return fmt.Sprintf("%s%010d", idBase, idSeq.Add(1)) }

// numbers hands out attempt numbers, so that no two attempts the suite
// makes of one event to one endpoint share one.
var numbers = struct {
	sync.Mutex
	next map[[2]string]int
}{next: map[[2]string]int{}}

// nextNumber returns the next attempt number of event to endpoint.
func nextNumber(event, endpoint string) int {
	numbers.Lock()
	defer numbers.Unlock()
	numbers.next[[2]string{event, endpoint}]++
	return numbers.next[[2]string{event, endpoint}]
}

// pending returns a pending attempt of event to endpoint, due at base,
// with an attempt number of its own.
func pending(event, endpoint string) delivery.Attempt {
	return delivery.Attempt{
		ID:            newID(),
		EventID:       event,
		EventType:     "invoice.paid",
		EndpointID:    endpoint,
		EndpointURL:   "https://example.com/hooks/" + endpoint + "?token=abc",
		Status:        delivery.StatusPending,
		AttemptNumber: nextNumber(event, endpoint),
		Trigger:       delivery.TriggerFirst,
		ScheduledAt:   base,
	}
}

// job returns a job of a with a payload naming it.
func job(a delivery.Attempt) delivery.Job {
	return delivery.Job{Attempt: a, Payload: []byte(`{"attempt":"` + a.ID + `"}`)}
}

// completed returns a as completed with status and a response.
func completed(a delivery.Attempt, status delivery.Status) delivery.Attempt {
	a.Status = status
	a.Response = `{"ok":true}`
	a.ResponseStatusCode = 200
	a.ResponseHeaders = http.Header{"Content-Type": {"application/json"}}
	a.AttemptedAt = base.Add(time.Second)
	a.Duration = 1500 * time.Microsecond
	if status == delivery.StatusCanceled {
		a.Response, a.ResponseStatusCode, a.ResponseHeaders, a.AttemptedAt, a.Duration = "", 0, nil, time.Time{}, 0
	}
	return a
}

func insert(t *testing.T, s delivery.Store, attempts ...delivery.Attempt) {
	t.Helper()
	jobs := make([]delivery.Job, len(attempts))
	for i, a := range attempts {
		jobs[i] = job(a)
	}
	require.NoError(t, s.Insert(context.Background(), jobs...))
}

// requireStored checks that the stored attempt equals want, field by field.
func requireStored(t *testing.T, s delivery.Store, want delivery.Attempt) {
	t.Helper()
	got, err := s.Get(context.Background(), want.ID)
	require.NoError(t, err)
	requireSame(t, want, got)
}

// requireSame checks that got equals want: times as instants returned in
// UTC, and an empty header map the same as nil.
func requireSame(t *testing.T, want, got delivery.Attempt) {
	t.Helper()
	require.Equal(t, time.UTC, got.ScheduledAt.Location(), "ScheduledAt must be in UTC")
	if !got.AttemptedAt.IsZero() {
		require.Equal(t, time.UTC, got.AttemptedAt.Location(), "AttemptedAt must be in UTC")
	}
	require.True(t, want.ScheduledAt.Equal(got.ScheduledAt), "ScheduledAt: want %v, got %v", want.ScheduledAt, got.ScheduledAt)
	require.True(t, want.AttemptedAt.Equal(got.AttemptedAt), "AttemptedAt: want %v, got %v", want.AttemptedAt, got.AttemptedAt)
	require.Equal(t, want.AttemptedAt.IsZero(), got.AttemptedAt.IsZero())
	want.ScheduledAt, got.ScheduledAt = time.Time{}, time.Time{}
	want.AttemptedAt, got.AttemptedAt = time.Time{}, time.Time{}
	if len(want.ResponseHeaders) == 0 {
		want.ResponseHeaders = nil
	}
	if len(got.ResponseHeaders) == 0 {
		got.ResponseHeaders = nil
	}
	require.Equal(t, want, got)
}

func testRoundTrip(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	odd := delivery.Attempt{
		ID:          newID(),
		EventID:     "evt_ünïcødé_'; DROP TABLE attempts; --",
		EventType:   "user.créé \"quoted\"",
		EndpointID:  "ep_\\x00_%_",
		EndpointURL: "https://例え.jp/hook?q=1&r=%27%22",
		Status:      delivery.StatusPending,
		Trigger:     delivery.TriggerManual,
		// A time in another zone is the same instant in UTC.
		ScheduledAt:   base.Add(-48 * time.Hour).In(time.FixedZone("UTC+5", 5*3600)),
		AttemptNumber: 7,
	}
	final := odd
	final.Status = delivery.StatusFailure
	final.Response = "héllo \x00 \xff\xfe invalid utf-8 🚀 '; DELETE FROM x; --"
	final.ResponseTruncated = true
	final.ResponseStatusCode = 503
	final.ResponseHeaders = http.Header{
		"Set-Cookie":   {"a=1", "b=2", "a=1"},
		"Retry-After":  {"120"},
		"X-Ünicode":    {"välue"},
		"X-Empty":      {""},
		"Content-Type": {"text/plain; charset=utf-8"},
	}
	final.Error = "dial tcp 127.0.0.1:1: connect: connection refused"
	final.AttemptedAt = base.Add(123456 * time.Microsecond)
	final.Duration = 987654321 * time.Nanosecond

	require.NoError(t, s.Insert(ctx, job(odd)))
	requireStored(t, s, odd)
	require.NoError(t, s.Complete(ctx, final, nil))
	requireStored(t, s, final)

	// Every final status round-trips; so do pending ones.
	for _, status := range []delivery.Status{delivery.StatusSuccess, delivery.StatusFailure, delivery.StatusCanceled} {
		a := pending("evt_"+status.String(), "ep_1")
		a.ScheduledAt = base.Add(time.Duration(status) * time.Microsecond)
		insert(t, s, a)
		requireStored(t, s, a)
		f := completed(a, status)
		require.NoError(t, s.Complete(ctx, f, nil))
		requireStored(t, s, f)
	}
	// A zero-length body and a body of every byte value.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, body := range []string{"", string(all)} {
		a := pending("evt_body", "ep_1")
		insert(t, s, a)
		f := completed(a, delivery.StatusSuccess)
		f.Response = body
		require.NoError(t, s.Complete(ctx, f, nil))
		requireStored(t, s, f)
	}
}

func testInsertRejects(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	insert(t, s, a)

	// A duplicate ID, alone or in a batch, stores nothing.
	b := pending("evt_2", "ep_1")
	dup := a
	dup.EventID = "evt_other"
	err := s.Insert(ctx, job(b), job(dup))
	require.ErrorIs(t, err, delivery.ErrDuplicate)
	_, err = s.Get(ctx, b.ID)
	require.ErrorIs(t, err, delivery.ErrNotFound, "a batch with a duplicate must store nothing")
	requireStored(t, s, a)

	c := pending("evt_3", "ep_1")
	require.ErrorIs(t, s.Insert(ctx, job(c), job(c)), delivery.ErrDuplicate)
	_, err = s.Get(ctx, c.ID)
	require.ErrorIs(t, err, delivery.ErrNotFound)

	// A new attempt must be pending.
	for _, status := range []delivery.Status{delivery.StatusSuccess, delivery.StatusFailure, delivery.StatusCanceled} {
		f := completed(pending("evt_4", "ep_1"), status)
		require.Error(t, s.Insert(ctx, job(f)), "inserting a %v attempt", status)
		_, err = s.Get(ctx, f.ID)
		require.ErrorIs(t, err, delivery.ErrNotFound)
	}
	require.NoError(t, s.Insert(ctx), "inserting nothing is not an error")
}

func testGetNotFound(t *testing.T, s delivery.Store) {
	_, err := s.Get(context.Background(), newID())
	require.ErrorIs(t, err, delivery.ErrNotFound)
	_, err = s.Get(context.Background(), "")
	require.ErrorIs(t, err, delivery.ErrNotFound)
}

func testCompleteOnce(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	insert(t, s, a)
	f := completed(a, delivery.StatusSuccess)
	require.NoError(t, s.Complete(ctx, f, nil))
	requireStored(t, s, f)

	for _, status := range []delivery.Status{delivery.StatusSuccess, delivery.StatusFailure, delivery.StatusCanceled} {
		again := completed(a, status)
		again.Response = "second"
		require.ErrorIs(t, s.Complete(ctx, again, nil), delivery.ErrNotPending)
		requireStored(t, s, f)
	}
	// Nor is a next attempt stored, nor its event.
	never := pending("evt_never", "ep_1")
	require.ErrorIs(t, s.Complete(ctx, completed(a, delivery.StatusFailure), &delivery.Job{Attempt: never, Payload: []byte("{}")}), delivery.ErrNotPending)
	_, err := s.Event(ctx, "evt_never")
	require.ErrorIs(t, err, delivery.ErrNotFound, "the event of a next attempt that was not stored")

	// Complete sets only the outcome: the identity and schedule stay.
	b := pending("evt_2", "ep_2")
	insert(t, s, b)
	fb := completed(b, delivery.StatusFailure)
	changed := fb
	changed.EventID, changed.EventType, changed.EndpointID = "evt_x", "x", "ep_x"
	changed.EndpointURL = "https://attacker.example/"
	changed.ScheduledAt = base.Add(time.Hour)
	changed.AttemptNumber, changed.Trigger = 99, delivery.TriggerManual
	require.NoError(t, s.Complete(ctx, changed, nil))
	requireStored(t, s, fb)
}

func testCompleteRejects(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	missing := completed(pending("evt_1", "ep_1"), delivery.StatusSuccess)
	require.ErrorIs(t, s.Complete(ctx, missing, nil), delivery.ErrNotFound)

	a := pending("evt_1", "ep_1")
	insert(t, s, a)
	for _, status := range []delivery.Status{delivery.StatusPending, delivery.Status(7), delivery.Status(-1)} {
		bad := completed(a, delivery.StatusSuccess)
		bad.Status = status
		require.Error(t, s.Complete(ctx, bad, nil), "completing as %v", status)
		requireStored(t, s, a)
	}
}

func testCompleteWithNext(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	insert(t, s, a)
	retry := pending("evt_1", "ep_1")
	retry.AttemptNumber, retry.Trigger, retry.ScheduledAt = 2, delivery.TriggerRetry, base.Add(5*time.Second)
	f := completed(a, delivery.StatusFailure)
	require.NoError(t, s.Complete(ctx, f, &delivery.Job{Attempt: retry, Payload: []byte("retry payload")}))
	requireStored(t, s, f)
	requireStored(t, s, retry)
	ev, err := s.Event(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, job(a).Payload, ev.Payload, "the retry shares the event its first attempt stored")
	jobs := claim(t, s, "w", retry.ScheduledAt, 1)
	require.Len(t, jobs, 1)
	require.Equal(t, job(a).Payload, jobs[0].Payload)

	// A next attempt of an event not stored yet stores it, as Insert does.
	c := pending("evt_3", "ep_1")
	insert(t, s, c)
	other := pending("evt_other", "ep_1")
	require.NoError(t, s.Complete(ctx, completed(c, delivery.StatusFailure), &delivery.Job{Attempt: other, Payload: []byte("other payload")}))
	ev, err = s.Event(ctx, "evt_other")
	require.NoError(t, err)
	require.Equal(t, []byte("other payload"), ev.Payload)

	// A next attempt with a taken ID changes nothing.
	b := pending("evt_2", "ep_1")
	insert(t, s, b)
	taken := retry
	taken.Status = delivery.StatusPending
	require.ErrorIs(t, s.Complete(ctx, completed(b, delivery.StatusFailure), &delivery.Job{Attempt: taken}), delivery.ErrDuplicate)
	requireStored(t, s, b)
	requireStored(t, s, retry)

	// A next attempt that is not pending changes nothing.
	bad := completed(pending("evt_2", "ep_1"), delivery.StatusSuccess)
	require.Error(t, s.Complete(ctx, completed(b, delivery.StatusFailure), &delivery.Job{Attempt: bad}))
	requireStored(t, s, b)
	_, err = s.Get(ctx, bad.ID)
	require.ErrorIs(t, err, delivery.ErrNotFound)

	// Completing a final attempt inserts no next attempt.
	late := pending("evt_1", "ep_1")
	require.ErrorIs(t, s.Complete(ctx, completed(a, delivery.StatusFailure), &delivery.Job{Attempt: late}), delivery.ErrNotPending)
	_, err = s.Get(ctx, late.ID)
	require.ErrorIs(t, err, delivery.ErrNotFound)
}

func testConcurrentCompletions(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	const racers = 12
	for round := range 5 {
		a := pending(fmt.Sprintf("evt_%d", round), "ep_1")
		insert(t, s, a)
		finals := make([]delivery.Attempt, racers)
		nexts := make([]delivery.Attempt, racers)
		errs := make([]error, racers)
		for i := range racers {
			finals[i] = completed(a, []delivery.Status{delivery.StatusSuccess, delivery.StatusFailure, delivery.StatusCanceled}[i%3])
			finals[i].Response = fmt.Sprintf("racer %d", i)
			nexts[i] = pending(a.EventID, "ep_1")
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				errs[i] = s.Complete(ctx, finals[i], &delivery.Job{Attempt: nexts[i]})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "racers %d and %d both completed attempt %s", winner, i, a.ID)
				winner = i
				continue
			}
			require.ErrorIs(t, err, delivery.ErrNotPending)
		}
		require.NotEqual(t, -1, winner, "no completion won")
		requireStored(t, s, finals[winner])
		for i, n := range nexts {
			_, err := s.Get(ctx, n.ID)
			if i == winner {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, delivery.ErrNotFound, "a losing completion inserted its next attempt")
			}
		}
	}
}

func claim(t *testing.T, s delivery.Store, owner string, now time.Time, limit int) []delivery.Job {
	t.Helper()
	jobs, err := s.Claim(context.Background(), delivery.ClaimRequest{Owner: owner, Now: now, Until: now.Add(time.Minute), Limit: limit})
	require.NoError(t, err)
	return jobs
}

func jobIDs(jobs []delivery.Job) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.Attempt.ID
	}
	return ids
}

func testClaim(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	late := pending("evt_late", "ep_1")
	late.ScheduledAt = base.Add(2 * time.Second)
	early := pending("evt_early", "ep_1")
	early.ScheduledAt = base.Add(-time.Second)
	same1 := pending("evt_same", "ep_1")
	same2 := pending("evt_same", "ep_2")
	future := pending("evt_future", "ep_1")
	future.ScheduledAt = base.Add(time.Hour)
	done := pending("evt_done", "ep_1")
	insert(t, s, late, future, same2, done, same1, early)
	require.NoError(t, s.Complete(ctx, completed(done, delivery.StatusSuccess), nil))

	require.Empty(t, claim(t, s, "w1", base.Add(-time.Hour), 10), "nothing is due yet")

	// ep_1 waits since early was due, ep_2 since same2 was: ep_1 is served
	// first. The claim's second attempt is ep_2's, when the Store goes
	// round the endpoints one attempt at a time, or ep_1's next, when it
	// serves each in one piece (see Fair claims).
	jobs := claim(t, s, "w1", base, 2)
	require.Len(t, jobs, 2, "at most Limit, and no fewer while more are due")
	require.Equal(t, early.ID, jobs[0].Attempt.ID, "endpoints in turn, earliest first")
	require.Equal(t, []byte(`{"attempt":"`+early.ID+`"}`), jobs[0].Payload)
	requireSame(t, early, jobs[0].Attempt)
	require.Equal(t, "w1", jobs[0].Lease.Owner)
	require.True(t, base.Add(time.Minute).Equal(jobs[0].Lease.Until))
	require.False(t, jobs[0].Reclaimed)
	left := same1
	switch jobs[1].Attempt.ID {
	case same2.ID:
	case same1.ID:
		left = same2
	default:
		t.Fatalf("the second attempt claimed is %s, neither ep_2's earliest (%s) nor ep_1's next (%s)", jobs[1].Attempt.ID, same2.ID, same1.ID)
	}

	// Due exactly at Now counts; later and final ones do not.
	jobs = claim(t, s, "w2", base.Add(2*time.Second), 10)
	require.Equal(t, []string{left.ID, late.ID}, jobIDs(jobs), "earliest first, ties by ID")
	require.Empty(t, claim(t, s, "w3", base.Add(2*time.Second), 10))
}

func testClaimLeases(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	b := pending("evt_2", "ep_1")
	// b is inserted leased, as Deliver does for the attempt it sends.
	require.NoError(t, s.Insert(ctx, job(a), delivery.Job{Attempt: b, Lease: delivery.Lease{Owner: "sender", Until: base.Add(30 * time.Second)}}))

	require.Equal(t, []string{a.ID}, jobIDs(claim(t, s, "w1", base, 10)), "b is leased at insert")
	require.Empty(t, claim(t, s, "w2", base.Add(29*time.Second), 10), "leases hold until their Until")
	require.Equal(t, []string{b.ID}, jobIDs(claim(t, s, "w2", base.Add(30*time.Second), 10)), "b's lease ended at its Until")

	jobs := claim(t, s, "w3", base.Add(2*time.Minute), 10)
	require.Equal(t, []string{a.ID, b.ID}, jobIDs(jobs), "both leases ended unreleased")
	for _, j := range jobs {
		require.True(t, j.Reclaimed, "attempt %s had an expired lease", j.Attempt.ID)
		require.Equal(t, "w3", j.Lease.Owner)
	}
	// A reclaimed attempt can still be completed, once.
	f := completed(a, delivery.StatusFailure)
	f.Error = "lease expired"
	require.NoError(t, s.Complete(ctx, f, nil))
	requireStored(t, s, f)
}

// testClaimEarlierNow checks that a lease is judged by each claim's own
// Now: one claim finding a lease ended does not end it for a claim whose
// Now comes before the lease's Until, as happens between processes whose
// clocks differ.
func testClaimEarlierNow(t *testing.T, s delivery.Store) {
	// On two endpoints: an endpoint served by a claim waits for its next
	// turn until that claim's Now (see Fair claims).
	a := pending("evt_1", "ep_1")
	b := pending("evt_2", "ep_2")
	insert(t, s, a, b)
	require.Len(t, claim(t, s, "w1", base, 10), 2, "both leased until base+1m")
	require.Equal(t, []string{a.ID}, jobIDs(claim(t, s, "w2", base.Add(2*time.Minute), 1)), "w2 takes a over; b's lease has ended too")
	require.Empty(t, claim(t, s, "w3", base.Add(30*time.Second), 10), "at base+30s, w1 still holds b and w2 holds a")
	jobs := claim(t, s, "w4", base.Add(time.Minute), 10)
	require.Equal(t, []string{b.ID}, jobIDs(jobs), "b's lease ends at its Until")
	require.True(t, jobs[0].Reclaimed)
}

// testClaimBackdatedWork checks that new work scheduled before the Now of
// the claim that last served its endpoint (as from a process whose clock
// lags) does not move the endpoint ahead of one that was waiting then.
func testClaimBackdatedWork(t *testing.T, s delivery.Store) {
	a1, b1 := pending("evt_1", "ep_1"), pending("evt_2", "ep_2")
	a1.ScheduledAt, b1.ScheduledAt = base.Add(-2*time.Second), base.Add(-time.Second)
	a2 := pending("evt_3", "ep_1")
	a2.ScheduledAt = base.Add(-2 * time.Second)
	insert(t, s, a1, b1, a2)
	require.Equal(t, []string{a1.ID}, jobIDs(claim(t, s, "w1", base, 1)), "ep_1 waits since base-2s, ep_2 since base-1s")

	// ep_1 went behind ep_2, which was waiting at base; work of ep_1
	// scheduled at base-3s does not put it back in front.
	backdated := pending("evt_4", "ep_1")
	backdated.ScheduledAt = base.Add(-3 * time.Second)
	insert(t, s, backdated)
	require.Equal(t, []string{b1.ID}, jobIDs(claim(t, s, "w2", base.Add(time.Second), 1)), "ep_2's turn")
	require.Equal(t, []string{backdated.ID}, jobIDs(claim(t, s, "w3", base.Add(2*time.Second), 1)), "then ep_1's earliest")
}

// traceParents are W3C traceparents of the longest and shortest kinds a
// Store holds.
var traceParents = []string{
	"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	"cc-" + strings.Repeat("ab", (delivery.MaxTraceParentLength-3)/2) + "-",
}

func testTraceParent(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	traced, long, plain := pending("evt_traced", "ep_1"), pending("evt_long", "ep_2"), pending("evt_plain", "ep_3")
	require.NoError(t, s.Insert(ctx,
		delivery.Job{Attempt: traced, TraceParent: traceParents[0]},
		delivery.Job{Attempt: long, TraceParent: traceParents[1]},
		job(plain)))
	want := map[string]string{traced.ID: traceParents[0], long.ID: traceParents[1], plain.ID: ""}
	jobs := claim(t, s, "w1", base, 10)
	require.Len(t, jobs, 3)
	for _, j := range jobs {
		require.Equal(t, want[j.Attempt.ID], j.TraceParent, "Claim returns the trace parent that Insert stored")
	}

	// A retry inserted by Complete keeps its own, and a reclaim returns it.
	retry := pending("evt_traced", "ep_1")
	retry.AttemptNumber, retry.Trigger = 2, delivery.TriggerRetry
	require.NoError(t, s.Complete(ctx, completed(traced, delivery.StatusFailure), &delivery.Job{Attempt: retry, TraceParent: traceParents[0]}))
	jobs = claim(t, s, "w2", base.Add(2*time.Minute), 10)
	got := map[string]string{}
	for _, j := range jobs {
		got[j.Attempt.ID] = j.TraceParent
	}
	require.Equal(t, map[string]string{retry.ID: traceParents[0], long.ID: traceParents[1], plain.ID: ""}, got,
		"a retry keeps the trace parent it was inserted with, and a reclaimed attempt keeps its own")
}

func testConcurrentClaims(t *testing.T, s delivery.Store) {
	const n, workers = 120, 6
	attempts := make([]delivery.Attempt, n)
	for i := range attempts {
		attempts[i] = pending(fmt.Sprintf("evt_%d", i), fmt.Sprintf("ep_%d", i%4))
	}
	insert(t, s, attempts...)
	var mu sync.Mutex
	claimed := map[string]string{}
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			// Claims that hand out attempts twice would never run dry:
			// stop after more rounds than n attempts can take.
			for range n {
				jobs, err := s.Claim(context.Background(), delivery.ClaimRequest{Owner: owner, Now: base, Until: base.Add(time.Minute), Limit: 7})
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					if prev, ok := claimed[j.Attempt.ID]; ok {
						t.Errorf("attempt %s claimed by %s and %s", j.Attempt.ID, prev, owner)
					}
					claimed[j.Attempt.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, claimed, n, "every due attempt is claimed once")
}

func testRelease(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	b := pending("evt_2", "ep_1")
	insert(t, s, a, b)
	require.Len(t, claim(t, s, "w1", base, 10), 2)

	require.NoError(t, s.Release(ctx, "w2", a.ID, b.ID), "releasing another owner's leases is a no-op")
	require.Empty(t, claim(t, s, "w3", base, 10))
	require.NoError(t, s.Release(ctx, "w1", a.ID, newID()), "unknown IDs are ignored")
	jobs := claim(t, s, "w3", base, 10)
	require.Equal(t, []string{a.ID}, jobIDs(jobs))
	require.False(t, jobs[0].Reclaimed, "a released attempt is not reclaimed")

	// Releasing a final attempt changes nothing.
	f := completed(a, delivery.StatusSuccess)
	require.NoError(t, s.Complete(ctx, f, nil))
	require.NoError(t, s.Release(ctx, "w3", a.ID))
	requireStored(t, s, f)
	require.NoError(t, s.Release(ctx, "w1"), "releasing nothing is not an error")
}

func testCancel(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	e1a := pending("evt_1", "ep_a")
	e1b := pending("evt_1", "ep_b")
	e1done := pending("evt_1", "ep_c")
	e2a := pending("evt_2", "ep_a")
	e2b := pending("evt_2", "ep_b")
	e3a := pending("evt_3", "ep_a")
	insert(t, s, e1a, e1b, e1done, e2a, e2b, e3a)
	fdone := completed(e1done, delivery.StatusFailure)
	require.NoError(t, s.Complete(ctx, fdone, nil))

	_, err := s.Cancel(ctx, delivery.CancelRequest{Now: base})
	require.Error(t, err, "a cancel must name an event or an endpoint")

	n, err := s.Cancel(ctx, delivery.CancelRequest{EventID: "evt_1", Now: base})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	requireStored(t, s, completed(e1a, delivery.StatusCanceled))
	requireStored(t, s, completed(e1b, delivery.StatusCanceled))
	requireStored(t, s, fdone)

	n, err = s.Cancel(ctx, delivery.CancelRequest{EventID: "evt_2", EndpointID: "ep_b", Now: base})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	requireStored(t, s, e2a)
	requireStored(t, s, completed(e2b, delivery.StatusCanceled))

	n, err = s.Cancel(ctx, delivery.CancelRequest{EndpointID: "ep_a", Now: base})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	requireStored(t, s, completed(e2a, delivery.StatusCanceled))
	requireStored(t, s, completed(e3a, delivery.StatusCanceled))

	n, err = s.Cancel(ctx, delivery.CancelRequest{EventID: "evt_1", Now: base})
	require.NoError(t, err)
	require.Zero(t, n, "canceling twice changes nothing")
	require.Empty(t, claim(t, s, "w", base, 10), "canceled attempts are not claimed")
	require.ErrorIs(t, s.Complete(ctx, completed(e1a, delivery.StatusSuccess), nil), delivery.ErrNotPending)
}

func testCancelInFlight(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	sending := pending("evt_1", "ep_1")
	held := pending("evt_1", "ep_2")
	expired := pending("evt_1", "ep_3")
	insert(t, s, sending, held, expired)
	require.Len(t, claim(t, s, "w1", base, 10), 3)
	// expired's lease ends before the cancel.
	require.NoError(t, s.Release(ctx, "w1", expired.ID))
	_, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "w2", Now: base, Until: base.Add(time.Second), Limit: 10})
	require.NoError(t, err)

	n, err := s.Cancel(ctx, delivery.CancelRequest{EventID: "evt_1", Now: base.Add(2 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the attempt without a held lease is canceled")
	requireStored(t, s, completed(expired, delivery.StatusCanceled))
	requireStored(t, s, sending)

	// The attempt in flight keeps its real outcome, and its retry is dropped.
	f := completed(sending, delivery.StatusFailure)
	retry := pending("evt_1", "ep_1")
	require.NoError(t, s.Complete(ctx, f, &delivery.Job{Attempt: retry}))
	requireStored(t, s, f)
	_, err = s.Get(ctx, retry.ID)
	require.ErrorIs(t, err, delivery.ErrNotFound, "the retry of a canceled event must be dropped")

	// A released attempt of a canceled event is canceled, not sent.
	require.NoError(t, s.Release(ctx, "w1", held.ID))
	requireStored(t, s, completed(held, delivery.StatusCanceled))
	require.Empty(t, claim(t, s, "w3", base.Add(time.Hour), 10))
}

func testFinalNeverChanges(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	for _, status := range []delivery.Status{delivery.StatusSuccess, delivery.StatusFailure, delivery.StatusCanceled} {
		a := pending("evt_"+status.String(), "ep_1")
		insert(t, s, a)
		f := completed(a, status)
		require.NoError(t, s.Complete(ctx, f, nil))

		require.ErrorIs(t, s.Complete(ctx, completed(a, delivery.StatusSuccess), nil), delivery.ErrNotPending)
		_, err := s.Cancel(ctx, delivery.CancelRequest{EventID: a.EventID, Now: base})
		require.NoError(t, err)
		require.NoError(t, s.Release(ctx, "w", a.ID))
		require.Empty(t, claim(t, s, "w", base.Add(time.Hour), 10))
		require.ErrorIs(t, s.Insert(ctx, job(a)), delivery.ErrDuplicate)
		requireStored(t, s, f)
	}
}

func list(t *testing.T, s delivery.Store, q delivery.ListQuery) []string {
	t.Helper()
	var ids []string
	for {
		page, err := s.List(context.Background(), q)
		require.NoError(t, err)
		for _, a := range page.Attempts {
			ids = append(ids, a.ID)
		}
		if page.Next == "" {
			return ids
		}
		require.NotEmpty(t, page.Attempts, "a page with a next cursor must not be empty")
		if q.After != "" && q.Descending {
			require.Less(t, page.Next, q.After, "the cursor must advance")
		} else if q.After != "" {
			require.Greater(t, page.Next, q.After, "the cursor must advance")
		}
		q.After = page.Next
	}
}

func testListFilters(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	// a: evt_1 → ep_a, success, scheduled base, attempted base+1s
	// b: evt_1 → ep_b, failure, scheduled base+1m, attempted base+1m+1s
	// c: evt_2 → ep_a, pending, scheduled base+2m
	// d: evt_2 → ep_b, canceled, scheduled base+3m
	a, b, c, d := pending("evt_1", "ep_a"), pending("evt_1", "ep_b"), pending("evt_2", "ep_a"), pending("evt_2", "ep_b")
	b.ScheduledAt, c.ScheduledAt, d.ScheduledAt = base.Add(time.Minute), base.Add(2*time.Minute), base.Add(3*time.Minute)
	insert(t, s, a, b, c, d)
	require.NoError(t, s.Complete(ctx, completed(a, delivery.StatusSuccess), nil))
	fb := completed(b, delivery.StatusFailure)
	fb.AttemptedAt = base.Add(time.Minute + time.Second)
	require.NoError(t, s.Complete(ctx, fb, nil))
	require.NoError(t, s.Complete(ctx, completed(d, delivery.StatusCanceled), nil))

	tests := []struct {
		name string
		q    delivery.ListQuery
		want []string
	}{
		{"all", delivery.ListQuery{}, []string{a.ID, b.ID, c.ID, d.ID}},
		{"event", delivery.ListQuery{EventID: "evt_2"}, []string{c.ID, d.ID}},
		{"endpoint", delivery.ListQuery{EndpointID: "ep_b"}, []string{b.ID, d.ID}},
		{"event and endpoint", delivery.ListQuery{EventID: "evt_1", EndpointID: "ep_a"}, []string{a.ID}},
		{"unknown event", delivery.ListQuery{EventID: "evt_9"}, nil},
		{"one status", delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}}, []string{c.ID}},
		{"status zero is success", delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusSuccess}}, []string{a.ID}},
		{"statuses", delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusFailure, delivery.StatusCanceled}}, []string{b.ID, d.ID}},
		{"scheduled from", delivery.ListQuery{ScheduledFrom: base.Add(time.Minute)}, []string{b.ID, c.ID, d.ID}},
		{"scheduled to is open", delivery.ListQuery{ScheduledTo: base.Add(2 * time.Minute)}, []string{a.ID, b.ID}},
		{"scheduled range", delivery.ListQuery{ScheduledFrom: base.Add(time.Microsecond), ScheduledTo: base.Add(3*time.Minute + time.Microsecond)}, []string{b.ID, c.ID, d.ID}},
		{"attempted from leaves out unsent", delivery.ListQuery{AttemptedFrom: base.Add(-time.Hour)}, []string{a.ID, b.ID}},
		{"attempted to leaves out unsent", delivery.ListQuery{AttemptedTo: base.Add(time.Hour)}, []string{a.ID, b.ID}},
		{"attempted range", delivery.ListQuery{AttemptedFrom: base.Add(time.Second + time.Microsecond)}, []string{b.ID}},
		{"attempted from is closed", delivery.ListQuery{AttemptedFrom: base.Add(time.Second)}, []string{a.ID, b.ID}},
		{"attempted to is open", delivery.ListQuery{AttemptedTo: base.Add(time.Minute + time.Second)}, []string{a.ID}},
		{"attempted to just after", delivery.ListQuery{AttemptedTo: base.Add(time.Minute + time.Second + time.Microsecond)}, []string{a.ID, b.ID}},
		{"attempted range of one instant", delivery.ListQuery{AttemptedFrom: base.Add(time.Second), AttemptedTo: base.Add(time.Second + time.Microsecond)}, []string{a.ID}},
		{"attempted empty range", delivery.ListQuery{AttemptedFrom: base.Add(time.Second), AttemptedTo: base.Add(time.Second)}, nil},
		{"scheduled from is closed", delivery.ListQuery{ScheduledFrom: base.Add(2 * time.Minute)}, []string{c.ID, d.ID}},
		{"combined", delivery.ListQuery{EndpointID: "ep_a", Statuses: []delivery.Status{delivery.StatusSuccess, delivery.StatusPending}, ScheduledFrom: base.Add(time.Second)}, []string{c.ID}},
		{"after cursor", delivery.ListQuery{After: b.ID}, []string{c.ID, d.ID}},
		{"after last", delivery.ListQuery{After: d.ID}, nil},
		{"limit 1", delivery.ListQuery{Limit: 1, EndpointID: "ep_a"}, []string{a.ID, c.ID}},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, list(t, s, tt.q), tt.name)
	}

	page, err := s.List(ctx, delivery.ListQuery{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page.Attempts, 2)
	require.Equal(t, b.ID, page.Next)
	requireSame(t, completed(a, delivery.StatusSuccess), page.Attempts[0])
	page, err = s.List(ctx, delivery.ListQuery{Limit: 2, After: b.ID})
	require.NoError(t, err)
	require.Len(t, page.Attempts, 2)
	require.Empty(t, page.Next, "the last page has no next cursor, even when full")
}

func testListPaging(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	n := delivery.MaxListLimit + 50
	want := make([]string, n)
	attempts := make([]delivery.Attempt, n)
	for i := range attempts {
		attempts[i] = pending(fmt.Sprintf("evt_%d", i%10), "ep_1")
		want[i] = attempts[i].ID
	}
	// Insert out of order: the list is in ID order all the same.
	rev := slices.Clone(attempts)
	slices.Reverse(rev)
	for chunk := range slices.Chunk(rev, 200) {
		insert(t, s, chunk...)
	}
	page, err := s.List(ctx, delivery.ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Attempts, delivery.DefaultListLimit, "the default page size")
	page, err = s.List(ctx, delivery.ListQuery{Limit: n})
	require.NoError(t, err)
	require.Len(t, page.Attempts, delivery.MaxListLimit, "a page is cut at MaxListLimit")
	require.Equal(t, want, list(t, s, delivery.ListQuery{Limit: 77}))
	require.Equal(t, want, list(t, s, delivery.ListQuery{Limit: -1}))
}

// testListOrder checks that List pages in ID order even when the order of
// schedules, and of inserts, is another: a store that sorted by schedule
// would skip attempts when paging.
func testListOrder(t *testing.T, s delivery.Store) {
	const n = 40
	attempts := make([]delivery.Attempt, n)
	want := make([]string, n)
	for i := range attempts {
		attempts[i] = pending(fmt.Sprintf("evt_%d", i), "ep_1")
		// Later IDs are due earlier, in a shuffled pattern.
		attempts[i].ScheduledAt = base.Add(time.Duration((n-i)*7%n) * time.Second)
		want[i] = attempts[i].ID
	}
	for _, i := range []int{3, 1, 4, 0, 5, 9, 2, 6, 8, 7} {
		for j := i; j < n; j += 10 {
			insert(t, s, attempts[j])
		}
	}
	for _, limit := range []int{1, 3, 7, n} {
		require.Equal(t, want, list(t, s, delivery.ListQuery{Limit: limit}), "page size %d", limit)
		require.Equal(t, want[n/2:], list(t, s, delivery.ListQuery{Limit: limit, ScheduledFrom: base, After: want[n/2-1]}), "page size %d after a cursor", limit)
	}
}

func testPagingDuringInserts(t *testing.T, s delivery.Store) {
	const before, during = 300, 300
	existing := make([]delivery.Attempt, before)
	for i := range existing {
		existing[i] = pending(fmt.Sprintf("evt_%d", i), "ep_1")
	}
	insert(t, s, existing...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range during / 3 {
				select {
				case <-stop:
					return
				default:
				}
				a := pending(fmt.Sprintf("evt_new_%d_%d", w, i), "ep_1")
				if err := s.Insert(context.Background(), job(a)); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
			}
		})
	}
	ids := list(t, s, delivery.ListQuery{Limit: 7})
	close(stop)
	wg.Wait()

	require.True(t, slices.IsSorted(ids), "pages must be in ascending ID order")
	require.Len(t, slices.Compact(slices.Clone(ids)), len(ids), "pages must not repeat an attempt")
	for _, a := range existing {
		_, found := slices.BinarySearch(ids, a.ID)
		require.True(t, found, "attempt %s, stored before paging began, was skipped", a.ID)
	}
}

func testEvent(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	_, err := s.Event(ctx, "evt_1")
	require.ErrorIs(t, err, delivery.ErrNotFound)

	// The first job of an event stores it; the others share it, and each
	// attempt keeps its own type.
	first, second := pending("evt_1", "ep_1"), pending("evt_1", "ep_2")
	first.EventType, second.EventType = "invoice.created", "invoice.updated"
	payload := []byte("{\"ü\":\"\xff\x00\"}")
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: first, Payload: payload}, delivery.Job{Attempt: second, Payload: []byte("other")}))
	requireStored(t, s, second)
	want := delivery.Event{ID: "evt_1", Type: "invoice.created", Payload: payload}
	ev, err := s.Event(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, want, ev, "the event as its first job stored it")
	third := pending("evt_1", "ep_3")
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: third, Payload: []byte("later")}))
	jobs := claim(t, s, "w", base, 10)
	require.Len(t, jobs, 3)
	for _, j := range jobs {
		require.Equal(t, payload, j.Payload, "attempt %s is sent with its event's payload", j.Attempt.ID)
		require.NoError(t, s.Complete(ctx, completed(j.Attempt, delivery.StatusSuccess), nil))
	}
	ev, err = s.Event(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, want, ev, "kept after its attempts are final")

	// An attempt of smaller ID inserted later changes nothing either.
	older, newer := pending("evt_order", "ep_1"), pending("evt_order", "ep_2")
	newer.EventType = "invoice.voided"
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: newer, Payload: []byte("newer")}))
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: older, Payload: []byte("older")}))
	ev, err = s.Event(ctx, "evt_order")
	require.NoError(t, err)
	require.Equal(t, delivery.Event{ID: "evt_order", Type: "invoice.voided", Payload: []byte("newer")}, ev, "the event as first stored, whatever the IDs")

	empty := pending("evt_empty", "ep_1")
	insert(t, s, empty)
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: pending("evt_nil", "ep_1")}))
	ev, err = s.Event(ctx, "evt_nil")
	require.NoError(t, err)
	require.Empty(t, ev.Payload)
}

// testConcurrentEvent inserts attempts of one new event to several
// endpoints at once, each job with a payload of its own: exactly one
// stores the event, and every attempt is sent with its payload.
func testConcurrentEvent(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	const n = 8
	payloads := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		payloads[i] = []byte(fmt.Sprintf(`{"inserter":%d}`, i))
		a := pending("evt_shared", fmt.Sprintf("ep_%d", i))
		wg.Go(func() { errs[i] = s.Insert(ctx, delivery.Job{Attempt: a, Payload: payloads[i]}) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	ev, err := s.Event(ctx, "evt_shared")
	require.NoError(t, err)
	require.Contains(t, payloads, ev.Payload, "the payload of one of the inserts")
	jobs := claim(t, s, "w", base, n)
	require.Len(t, jobs, n)
	for _, j := range jobs {
		require.Equal(t, ev.Payload, j.Payload, "every attempt shares the stored event")
	}
}

func testCopies(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	payload := []byte("payload")
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: a, Payload: payload}))
	payload[0] = 'X'

	f := completed(a, delivery.StatusSuccess)
	headers := f.ResponseHeaders
	require.NoError(t, s.Complete(ctx, f, nil))
	headers.Set("Content-Type", "changed/by-caller")
	headers.Add("X-Added", "1")
	want := completed(a, delivery.StatusSuccess)
	requireStored(t, s, want)

	got, err := s.Get(ctx, a.ID)
	require.NoError(t, err)
	got.ResponseHeaders.Set("Content-Type", "changed/by-reader")
	got.Status = delivery.StatusFailure
	requireStored(t, s, want)

	page, err := s.List(ctx, delivery.ListQuery{})
	require.NoError(t, err)
	page.Attempts[0].ResponseHeaders["Content-Type"][0] = "changed/in-list"
	requireStored(t, s, want)

	ev, err := s.Event(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, []byte("payload"), ev.Payload)
	ev.Payload[0] = 'Y'
	ev, err = s.Event(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, []byte("payload"), ev.Payload)

	b := pending("evt_2", "ep_1")
	insert(t, s, b)
	jobs := claim(t, s, "w", base, 1)
	require.Len(t, jobs, 1)
	jobs[0].Payload[0] = 'Z'
	ev, err = s.Event(ctx, "evt_2")
	require.NoError(t, err)
	require.Equal(t, `{"attempt":"`+b.ID+`"}`, string(ev.Payload))
}
