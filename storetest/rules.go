package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// testAttemptNumbers checks that at most one attempt of an event to an
// endpoint has a given number, whether the second comes in Insert, among
// one Insert's jobs, or as a Complete's next.
func testAttemptNumbers(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	insert(t, s, a)

	again := pending("evt_1", "ep_1")
	again.AttemptNumber = a.AttemptNumber
	other := pending("evt_2", "ep_1")
	require.ErrorIs(t, s.Insert(ctx, job(other), job(again)), delivery.ErrDuplicate, "the same event, endpoint and number")
	requireAbsent(t, s, again.ID, other.ID)

	twin := pending("evt_3", "ep_1")
	twin2 := pending("evt_3", "ep_1")
	twin2.AttemptNumber = twin.AttemptNumber
	require.ErrorIs(t, s.Insert(ctx, job(twin), job(twin2)), delivery.ErrDuplicate, "twice in one Insert")
	requireAbsent(t, s, twin.ID, twin2.ID)

	// The same number of the event to another endpoint, or of another
	// event to the endpoint, is no duplicate.
	elsewhere := pending("evt_1", "ep_2")
	elsewhere.AttemptNumber = a.AttemptNumber
	otherEvent := pending("evt_4", "ep_1")
	otherEvent.AttemptNumber = a.AttemptNumber
	insert(t, s, elsewhere, otherEvent)

	// A retry whose number is taken changes nothing.
	b := pending("evt_1", "ep_1")
	insert(t, s, b)
	retry := pending("evt_1", "ep_1")
	retry.AttemptNumber = a.AttemptNumber
	require.ErrorIs(t, s.Complete(ctx, completed(b, delivery.StatusFailure), &delivery.Job{Attempt: retry}), delivery.ErrDuplicate)
	requireStored(t, s, b)
	requireAbsent(t, s, retry.ID)
}

// testConcurrentInserts checks that of many concurrent Inserts of one
// event to one endpoint with one number, exactly one stores its attempt.
func testConcurrentInserts(t *testing.T, s delivery.Store) {
	const racers = 12
	for round := range 5 {
		event := fmt.Sprintf("evt_%d", round)
		number := nextNumber(event, "ep_1")
		attempts := make([]delivery.Attempt, racers)
		errs := make([]error, racers)
		for i := range attempts {
			attempts[i] = pending(event, "ep_1")
			attempts[i].AttemptNumber = number
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				errs[i] = s.Insert(context.Background(), job(attempts[i]))
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i, err := range errs {
			if err != nil {
				require.ErrorIs(t, err, delivery.ErrDuplicate, "racer %d", i)
				requireAbsent(t, s, attempts[i].ID)
				continue
			}
			winners++
			requireStored(t, s, attempts[i])
		}
		require.Equal(t, 1, winners, "round %d", round)
	}
}

// requireAbsent checks that no attempt has any of ids.
func requireAbsent(t *testing.T, s delivery.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		_, err := s.Get(context.Background(), id)
		require.ErrorIs(t, err, delivery.ErrNotFound, "attempt %s must not be stored", id)
	}
}

// testPreconditions checks that every broken precondition is an error
// wrapping delivery.ErrInvalidInput, and changes nothing.
func testPreconditions(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	insert(t, s, a)
	require.Len(t, claim(t, s, "w", base, 10), 1)
	leased := delivery.Lease{Owner: "w", Until: base.Add(time.Minute)}

	for _, status := range []delivery.Status{delivery.StatusSuccess, delivery.StatusFailure, delivery.StatusCanceled, delivery.Status(9)} {
		bad := pending("evt_2", "ep_1")
		bad.Status = status
		require.ErrorIs(t, s.Insert(ctx, job(bad)), delivery.ErrInvalidInput, "inserting a %v attempt", status)
		requireAbsent(t, s, bad.ID)
	}
	noID := pending("evt_2", "ep_1")
	noID.ID = ""
	require.ErrorIs(t, s.Insert(ctx, job(noID)), delivery.ErrInvalidInput, "an attempt without an ID")

	for _, status := range []delivery.Status{delivery.StatusPending, delivery.Status(7), delivery.Status(-1)} {
		bad := completed(a, delivery.StatusSuccess)
		bad.Status = status
		require.ErrorIs(t, s.Complete(ctx, bad, nil), delivery.ErrInvalidInput, "completing as %v", status)
	}
	notPending := completed(pending("evt_1", "ep_1"), delivery.StatusFailure)
	require.ErrorIs(t, s.Complete(ctx, completed(a, delivery.StatusFailure), &delivery.Job{Attempt: notPending}), delivery.ErrInvalidInput,
		"a next attempt that is not pending")
	requireAbsent(t, s, notPending.ID)
	// Invalid input comes before not found.
	require.ErrorIs(t, s.Complete(ctx, delivery.Attempt{ID: newID(), Status: delivery.StatusPending}, nil), delivery.ErrInvalidInput)

	for _, req := range []delivery.ClaimRequest{
		{Owner: "", Now: base, Until: base.Add(time.Minute), Limit: 1},
		{Owner: "w", Now: base, Until: base.Add(time.Minute), Limit: 0},
		{Owner: "w", Now: base, Until: base.Add(time.Minute), Limit: -1},
		{Owner: "w", Now: base, Until: base, Limit: 1},
		{Owner: "w", Now: base, Until: base.Add(-time.Second), Limit: 1},
	} {
		_, err := s.Claim(ctx, req)
		require.ErrorIs(t, err, delivery.ErrInvalidInput, "claim %+v", req)
	}
	_, err := s.Cancel(ctx, delivery.CancelRequest{Now: base})
	require.ErrorIs(t, err, delivery.ErrInvalidInput, "a cancel that names neither event nor endpoint")

	stored, err := s.Get(ctx, a.ID)
	require.NoError(t, err)
	requireSame(t, a, stored)
	require.Empty(t, claim(t, s, "w2", base.Add(30*time.Second), 10), "the lease %+v still holds", leased)
}

// testCompletePrecedence checks what Complete does when several of its
// rules apply at once: a cancel in flight drops next before next's ID or
// number is checked, while not found and not pending come before a
// duplicate next.
func testCompletePrecedence(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	taken := pending("evt_0", "ep_1")
	insert(t, s, taken)

	a := pending("evt_1", "ep_1")
	insert(t, s, a)
	require.Len(t, claim(t, s, "w", base, 10), 2)
	_, err := s.Cancel(ctx, delivery.CancelRequest{EventID: "evt_1", Now: base})
	require.NoError(t, err)
	dupID := pending("evt_1", "ep_1")
	dupID.ID = taken.ID
	f := completed(a, delivery.StatusFailure)
	require.NoError(t, s.Complete(ctx, f, &delivery.Job{Attempt: dupID}), "a dropped next is not checked for duplicates")
	requireStored(t, s, f)
	requireStored(t, s, taken)

	missing := completed(pending("evt_2", "ep_1"), delivery.StatusFailure)
	require.ErrorIs(t, s.Complete(ctx, missing, &delivery.Job{Attempt: dupID}), delivery.ErrNotFound)
	require.ErrorIs(t, s.Complete(ctx, f, &delivery.Job{Attempt: dupID}), delivery.ErrNotPending)
	requireStored(t, s, f)
}

// testCanceledContext checks that every method fails with the context's
// error when its context is done, and changes nothing.
func testCanceledContext(t *testing.T, s delivery.Store) {
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	cancel()
	a, b := pending("evt_1", "ep_1"), pending("evt_2", "ep_1")
	insert(t, s, a)
	requireCanceled := func(what string, err error) {
		t.Helper()
		require.Error(t, err, what)
		require.True(t, errors.Is(err, context.Canceled), "%s with a canceled context must fail with context.Canceled, got %v", what, err)
	}

	requireCanceled("Insert", s.Insert(ctx, job(b)))
	requireAbsent(t, s, b.ID)
	requireCanceled("Complete", s.Complete(ctx, completed(a, delivery.StatusSuccess), &delivery.Job{Attempt: b}))
	requireStored(t, s, a)
	requireAbsent(t, s, b.ID)
	_, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "w", Now: base, Until: base.Add(time.Minute), Limit: 10})
	requireCanceled("Claim", err)
	_, err = s.Cancel(ctx, delivery.CancelRequest{EventID: "evt_1", Now: base})
	requireCanceled("Cancel", err)
	requireStored(t, s, a)

	jobs := claim(t, s, "w", base, 10)
	require.Equal(t, []string{a.ID}, jobIDs(jobs), "the canceled Claim leased nothing")
	requireCanceled("Release", s.Release(ctx, "w", a.ID))
	require.Empty(t, claim(t, s, "w2", base, 10), "the canceled Release released nothing")

	_, err = s.Get(ctx, a.ID)
	requireCanceled("Get", err)
	_, err = s.List(ctx, delivery.ListQuery{})
	requireCanceled("List", err)
	_, err = s.Event(ctx, "evt_1")
	requireCanceled("Event", err)
}

// testLargestValues checks that a Store holds the largest values the
// Dispatcher writes: IDs, type and URL at their input limits, and the
// error, headers, payload and response at the maxima of delivery.
func testLargestValues(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a := pending(strings.Repeat("e", delivery.MaxIDLength), strings.Repeat("p", delivery.MaxIDLength))
	a.EventType = strings.Repeat("t", delivery.MaxIDLength)
	a.EndpointURL = "https://example.com/" + strings.Repeat("u", delivery.MaxURLLength-len("https://example.com/"))
	payload := []byte(strings.Repeat("{", delivery.MaxBodySize))
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: a, Payload: payload}))
	requireStored(t, s, a)

	f := completed(a, delivery.StatusFailure)
	f.Error = strings.Repeat("é", delivery.MaxErrorLength/2)
	f.Response = strings.Repeat("\xff", delivery.MaxBodySize)
	f.ResponseHeaders = http.Header{}
	// Names and values adding up to MaxResponseHeaderBytes.
	value := strings.Repeat("v", 1000)
	size := 0
	for i := 0; size+len(value)+10 <= delivery.MaxResponseHeaderBytes; i++ {
		name := fmt.Sprintf("X-H-%06d", i)
		f.ResponseHeaders[name] = []string{value}
		size += len(name) + len(value)
	}
	f.ResponseHeaders["X-Last"] = []string{strings.Repeat("l", delivery.MaxResponseHeaderBytes-size-len("X-Last"))}
	require.NoError(t, s.Complete(ctx, f, nil))
	requireStored(t, s, f)
	ev, err := s.Event(ctx, a.EventID)
	require.NoError(t, err)
	require.Equal(t, payload, ev.Payload)
}
