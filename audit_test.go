package delivery_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// auditReceiver logs, per webhook-id, the status code it answered to each
// request, so that a test can hold the audit trail against what the
// customer saw.
type auditReceiver struct {
	mu      sync.Mutex
	answers map[string][]int
	// answer picks the status code of a request.
	answer func(r *http.Request) int
}

func newAuditReceiver(t *testing.T, answer func(*http.Request) int) (*auditReceiver, string) {
	ar := &auditReceiver{answers: map[string][]int{}, answer: answer}
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		code := ar.answer(r)
		ar.mu.Lock()
		ar.answers[r.Header.Get(delivery.HeaderID)] = append(ar.answers[r.Header.Get(delivery.HeaderID)], code)
		ar.mu.Unlock()
		w.WriteHeader(code)
	})
	return ar, srv.URL
}

// requireAuditMatches checks the audit trail of each event from the
// receiver's side: the requests the receiver logged are at most the
// attempts that may have sent one (those with AttemptedAt set, and those
// recorded as lease expired), and every success the receiver answered is
// matched by a successful attempt.
func requireAuditMatches(t *testing.T, s delivery.Store, ar *auditReceiver, events []string) {
	t.Helper()
	ar.mu.Lock()
	defer ar.mu.Unlock()
	for _, id := range events {
		page, err := s.List(context.Background(), delivery.ListQuery{EventID: id, Limit: delivery.MaxListLimit})
		require.NoError(t, err)
		maySend, successes := 0, 0
		for _, a := range page.Attempts {
			require.NotEqual(t, delivery.StatusPending, a.Status, "attempt %s of %s left pending", a.ID, id)
			if mayHaveSent(a) {
				maySend++
			}
			// A success the receiver answered to a holder that died is on
			// record as a lease expired: its outcome was never known.
			if a.Status == delivery.StatusSuccess || leaseExpired(a) {
				successes++
			}
		}
		answered2xx := 0
		for _, code := range ar.answers[id] {
			if code >= 200 && code < 300 {
				answered2xx++
			}
		}
		require.LessOrEqual(t, len(ar.answers[id]), maySend, "event %s: the receiver got %d requests, but only %d attempts may have sent one:\n%v",
			id, len(ar.answers[id]), maySend, page.Attempts)
		require.LessOrEqual(t, answered2xx, successes,
			"event %s: a success the receiver answered has no attempt on record", id)
	}
}

// mayHaveSent reports whether a request may stand behind a: it was sent,
// or taken over from a holder that may have sent it.
func mayHaveSent(a delivery.Attempt) bool {
	return !a.AttemptedAt.IsZero() || leaseExpired(a)
}

func leaseExpired(a delivery.Attempt) bool { return strings.HasPrefix(a.Error, "lease expired") }

// A holder claims attempts, sends each, and dies. The worker that takes
// them over records every one of those requests (as lease expired) before
// it sends the attempt again, even when it cannot start them all at once
// and hands some back: the mark survives the release.
func TestWorkerRecordsEveryTakeover(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, func(c *delivery.Config) {
		c.Workers, c.PerEndpoint = 4, 1
		c.Retry = func(a delivery.Attempt, _ error) (time.Duration, error) {
			if a.AttemptNumber >= 5 {
				return 0, delivery.ErrRetriesExhausted
			}
			return 0, nil
		}
	})
	ar, url := newAuditReceiver(t, func(*http.Request) int { return http.StatusOK })
	ep := delivery.Endpoint{ID: "ep_1", URL: url}
	b.endpoints.set(ep)
	ctx := context.Background()
	var events []string
	for i := range 8 {
		id := fmt.Sprintf("evt_%d", i)
		events = append(events, id)
		_, err := b.d.Enqueue(ctx, delivery.Event{ID: id, Payload: []byte(`{}`)}, ep, nil)
		require.NoError(t, err)
	}

	// The holder that dies: it claims all 8 and sends each once.
	now := b.clock.Now()
	jobs, err := b.store.Claim(ctx, delivery.ClaimRequest{Owner: "dies", Now: now, Until: now.Add(time.Minute), Limit: 8})
	require.NoError(t, err)
	require.Len(t, jobs, 8)
	for _, j := range jobs {
		req, err := http.NewRequest(http.MethodPost, url, nil)
		require.NoError(t, err)
		req.Header.Set(delivery.HeaderID, j.Attempt.EventID)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}

	b.clock.Advance(2 * time.Minute)
	require.NoError(t, b.d.Start(ctx))
	waitFor(t, "every event is delivered again", func() bool {
		for _, id := range events {
			as := b.attempts(t, id)
			if len(as) == 0 || as[len(as)-1].Status != delivery.StatusSuccess {
				return false
			}
		}
		return true
	})
	for _, id := range events {
		as := b.attempts(t, id)
		require.Equal(t, []delivery.Status{delivery.StatusFailure, delivery.StatusSuccess}, statuses(as), "event %s", id)
		require.Contains(t, as[0].Error, "lease expired", "event %s: the dead holder's request is on record", id)
	}
	requireAuditMatches(t, b.store, ar, events)
}

// An event is delivered to an endpoint once: a second Deliver, Enqueue or
// EnqueueTx of it is an error wrapping ErrDuplicate that stores and sends
// nothing, so the event ID is an idempotency key. Resend sends again.
func TestDeliverOncePerEndpoint(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	ep, calls := b.countingEndpoint(t)
	ctx := context.Background()
	ev := delivery.Event{ID: "evt_1", Payload: []byte(`{}`)}

	first, err := b.d.Deliver(ctx, ev, ep)
	require.NoError(t, err)
	_, err = b.d.Deliver(ctx, ev, ep)
	require.ErrorIs(t, err, delivery.ErrDuplicate)
	_, err = b.d.Enqueue(ctx, ev, ep, nil)
	require.ErrorIs(t, err, delivery.ErrDuplicate)
	require.Equal(t, int32(1), calls.Load(), "a duplicate sends nothing")
	require.Equal(t, []string{first.ID}, attemptIDs(b.attempts(t, "evt_1")), "a duplicate stores nothing")

	other := ep
	other.ID = "ep_2"
	b.endpoints.set(other)
	_, err = b.d.Enqueue(ctx, ev, other, nil)
	require.NoError(t, err, "the same event to another endpoint is no duplicate")

	again, err := b.d.Resend(ctx, "evt_1", "ep_1")
	require.NoError(t, err)
	require.Equal(t, 2, again.AttemptNumber)
	require.Equal(t, int32(2), calls.Load())

	// Concurrent enqueues of one pair: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = b.d.Enqueue(ctx, delivery.Event{ID: "evt_race"}, ep, nil)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		require.ErrorIs(t, err, delivery.ErrDuplicate)
	}
	require.Equal(t, 1, wins)
	require.Len(t, b.attempts(t, "evt_race"), 1)
}

// An event ID names one payload: enqueued again to another endpoint with
// another payload, the event is sent with the payload stored first, which
// the store keeps once for all its attempts.
func TestEventPayloadStoredOnce(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	var mu sync.Mutex
	got := map[string]string{}
	srv := receiver(t, func(_ http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got[r.URL.Path] = string(body)
	})
	ctx := context.Background()
	first := delivery.Endpoint{ID: "ep_1", URL: srv.URL + "/ep_1"}
	second := delivery.Endpoint{ID: "ep_2", URL: srv.URL + "/ep_2"}
	b.endpoints.set(first)
	b.endpoints.set(second)
	_, err := b.d.Deliver(ctx, delivery.Event{ID: "evt_1", Payload: []byte(`{"version":1}`)}, first)
	require.NoError(t, err)
	_, err = b.d.Enqueue(ctx, delivery.Event{ID: "evt_1", Payload: []byte(`{"version":2}`)}, second, nil)
	require.NoError(t, err)
	require.NoError(t, b.d.Start(ctx))
	waitFor(t, "the second endpoint served", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]string{"/ep_1": `{"version":1}`, "/ep_2": `{"version":1}`}, got)
	ev, err := b.store.Event(ctx, "evt_1")
	require.NoError(t, err)
	require.JSONEq(t, `{"version":1}`, string(ev.Payload))
}

func attemptIDs(as []delivery.Attempt) []string {
	return field(as, func(a delivery.Attempt) string { return a.ID })
}

// CancelEvent while Deliver's request is in flight: the attempt keeps its
// real outcome, the store drops the retry, and the error says so instead
// of naming a retry that does not exist. OnGiveUp is not called: the
// host ended the delivery.
func TestDeliverReportsDroppedRetry(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	arrived, answer := make(chan struct{}), make(chan struct{})
	srv := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-answer
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	ctx := context.Background()
	type result struct {
		a   delivery.Attempt
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := b.d.Deliver(ctx, delivery.Event{ID: "evt_1", Payload: []byte(`{}`)}, ep)
		done <- result{a, err}
	}()
	<-arrived
	n, err := b.d.CancelEvent(ctx, "evt_1")
	require.NoError(t, err)
	require.Zero(t, n, "the attempt in flight is not canceled")
	close(answer)
	r := <-done

	var aerr *delivery.AttemptError
	require.ErrorAs(t, r.err, &aerr)
	require.Nil(t, aerr.Next, "the retry was dropped")
	require.ErrorIs(t, r.err, delivery.ErrEventCanceled)
	require.NotContains(t, r.err.Error(), "retry 0")
	require.Equal(t, delivery.StatusFailure, r.a.Status)
	require.Equal(t, 503, r.a.ResponseStatusCode)
	require.Equal(t, []delivery.Status{delivery.StatusFailure}, statuses(b.attempts(t, "evt_1")))
	select {
	case reason := <-b.exhausted:
		t.Fatalf("OnGiveUp was called for a canceled delivery: %v", reason)
	default:
	}
}

// A fan-out stores one attempt an endpoint in one Insert, all or none.
func TestEnqueueMany(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	ctx := context.Background()
	ev := delivery.Event{ID: "evt_fan", Type: "invoice.paid", Payload: []byte(`{}`)}
	base, calls := b.countingEndpoint(t)
	var eps []delivery.Endpoint
	for i := range 3 {
		ep := delivery.Endpoint{ID: fmt.Sprintf("ep_%d", i), URL: fmt.Sprintf("%s/%d", base.URL, i)}
		b.endpoints.set(ep)
		eps = append(eps, ep)
	}
	as, err := b.d.EnqueueMany(ctx, ev, eps, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"ep_0", "ep_1", "ep_2"}, field(as, func(a delivery.Attempt) string { return a.EndpointID }))
	for _, a := range as {
		require.Equal(t, 1, a.AttemptNumber)
		require.Equal(t, delivery.StatusPending, a.Status)
	}

	// One endpoint already has the event: nothing is stored.
	extra := eps[0]
	extra.ID = "ep_new"
	_, err = b.d.EnqueueMany(ctx, ev, []delivery.Endpoint{extra, eps[1]}, nil)
	require.ErrorIs(t, err, delivery.ErrDuplicate)
	_, err = b.d.EnqueueMany(ctx, delivery.Event{ID: "evt_twice"}, []delivery.Endpoint{extra, extra}, nil)
	require.ErrorIs(t, err, delivery.ErrDuplicate, "an endpoint named twice")
	require.Len(t, b.attempts(t, "evt_fan"), 3)
	require.Empty(t, b.attempts(t, "evt_twice"))

	_, err = b.d.EnqueueMany(ctx, delivery.Event{ID: "evt_bad"}, []delivery.Endpoint{extra, {ID: "ep_x", URL: "ftp://x"}}, nil)
	require.ErrorIs(t, err, delivery.ErrInvalidInput)
	require.Empty(t, b.attempts(t, "evt_bad"))

	require.NoError(t, b.d.Start(ctx))
	waitFor(t, "the fan-out is delivered", func() bool {
		return slices.Equal(statuses(b.attempts(t, "evt_fan")), []delivery.Status{delivery.StatusSuccess, delivery.StatusSuccess, delivery.StatusSuccess})
	})
	require.Equal(t, int32(3), calls.Load())
	_, err = b.d.EnqueueManyTx(ctx, nil, ev, eps, nil)
	require.ErrorIs(t, err, delivery.ErrInvalidInput, "memstore has no transactions")
}
