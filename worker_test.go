package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// endpoints is a host's endpoint table, changeable while the worker runs.
type endpoints struct {
	mu sync.Mutex
	m  map[string]delivery.Endpoint
}

func (e *endpoints) set(ep delivery.Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[ep.ID] = ep
}

func (e *endpoints) lookup(_ context.Context, id string) (delivery.Endpoint, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep, ok := e.m[id]
	if !ok {
		return ep, delivery.ErrEndpointGone
	}
	return ep, nil
}

// workerBundle is what a worker test needs.
type workerBundle struct {
	store     *memstore.Store
	d         *delivery.Dispatcher
	clock     *fakeClock
	endpoints *endpoints
	exhausted chan error
}

func setupWorker(t *testing.T, change func(*delivery.Config)) *workerBundle {
	t.Helper()
	b := &workerBundle{
		store:     memstore.New(),
		clock:     &fakeClock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)},
		endpoints: &endpoints{m: map[string]delivery.Endpoint{}},
		exhausted: make(chan error, 100),
	}
	cfg := &delivery.Config{
		Now:            b.clock.Now,
		AddressPolicy:  loopback,
		LookupEndpoint: b.endpoints.lookup,
		PollInterval:   5 * time.Millisecond,
		Timeout:        2 * time.Second,
		OnGiveUp:       func(_ context.Context, _ delivery.Attempt, reason error) { b.exhausted <- reason },
	}
	if change != nil {
		change(cfg)
	}
	d, err := delivery.NewDispatcher(b.store, cfg)
	require.NoError(t, err)
	b.d = d
	t.Cleanup(func() { require.NoError(t, d.Stop(context.Background())) })
	return b
}

// countingEndpoint returns the endpoint ep_1, known to the host, at a
// receiver that accepts everything and counts the requests.
func (b *workerBundle) countingEndpoint(t *testing.T) (delivery.Endpoint, *atomic.Int32) {
	calls := new(atomic.Int32)
	srv := receiver(t, func(http.ResponseWriter, *http.Request) { calls.Add(1) })
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	b.endpoints.set(ep)
	return ep, calls
}

// attempts returns every stored attempt of an event, in ID order.
func (b *workerBundle) attempts(t *testing.T, eventID string) []delivery.Attempt {
	t.Helper()
	page, err := b.store.List(context.Background(), delivery.ListQuery{EventID: eventID})
	require.NoError(t, err)
	return page.Attempts
}

// waitFor waits until cond holds; the bound only keeps a broken test from
// hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, time.Minute, 2*time.Millisecond, what)
}

// field returns one field of each attempt, in order.
func field[T any](as []delivery.Attempt, of func(delivery.Attempt) T) []T {
	out := make([]T, len(as))
	for i, a := range as {
		out[i] = of(a)
	}
	return out
}

func statuses(as []delivery.Attempt) []delivery.Status {
	return field(as, func(a delivery.Attempt) delivery.Status { return a.Status })
}

func numbers(as []delivery.Attempt) []int {
	return field(as, func(a delivery.Attempt) int { return a.AttemptNumber })
}

func TestWorkerDeliversEnqueued(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	var hits sync.Map
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.Header.Get("webhook-id"), true)
	})
	for _, id := range []string{"ep_a", "ep_b", "ep_c"} {
		b.endpoints.set(delivery.Endpoint{ID: id, URL: srv.URL + "/" + id, Secrets: []string{delivery.NewSecret()}})
	}
	ctx := context.Background()
	var events []string
	for i := range 30 {
		ep := []string{"ep_a", "ep_b", "ep_c"}[i%3]
		ev := delivery.Event{ID: "evt_" + string(rune('A'+i)), Payload: []byte("{}")}
		a, err := b.d.Enqueue(ctx, ev, delivery.Endpoint{ID: ep, URL: srv.URL + "/" + ep}, nil)
		require.NoError(t, err)
		require.Equal(t, delivery.StatusPending, a.Status)
		events = append(events, ev.ID)
	}
	require.NoError(t, b.d.Start(ctx))
	require.NoError(t, b.d.Start(ctx), "Start twice is harmless")
	for _, id := range events {
		waitFor(t, id+" delivered", func() bool {
			as := b.attempts(t, id)
			return len(as) == 1 && as[0].Status == delivery.StatusSuccess
		})
		_, ok := hits.Load(id)
		require.True(t, ok)
	}
	require.NoError(t, b.d.Stop(ctx))
	require.NoError(t, b.d.Stop(ctx), "Stop twice is harmless")
}

func TestWorkerRetriesOnSchedule(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	var calls atomic.Int32
	ids := make(chan string, 10)
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		ids <- r.Header.Get("webhook-id")
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	b.endpoints.set(ep)
	ctx := context.Background()
	_, err := b.d.Enqueue(ctx, delivery.Event{ID: "evt_1", Payload: []byte("{}")}, ep, nil)
	require.NoError(t, err)
	require.NoError(t, b.d.Start(ctx))

	waitFor(t, "the first attempt fails and schedules the second", func() bool { return len(b.attempts(t, "evt_1")) == 2 })
	as := b.attempts(t, "evt_1")
	require.Equal(t, []delivery.Status{delivery.StatusFailure, delivery.StatusPending}, statuses(as))
	due := as[1].ScheduledAt.Sub(b.clock.Now())
	require.InDelta(t, float64(5*time.Second), float64(due), float64(time.Second), "the second attempt is due about 5 s later")
	require.Equal(t, 2, as[1].AttemptNumber)
	require.Equal(t, delivery.TriggerRetry, as[1].Trigger)

	b.clock.Advance(7 * time.Second)
	waitFor(t, "the second attempt is sent when due, and fails", func() bool { return len(b.attempts(t, "evt_1")) == 3 })
	b.clock.Advance(7 * time.Minute)
	waitFor(t, "the third attempt succeeds", func() bool {
		as := b.attempts(t, "evt_1")
		return len(as) == 3 && as[2].Status == delivery.StatusSuccess
	})
	as = b.attempts(t, "evt_1")
	require.Equal(t, []int{1, 2, 3}, []int{as[0].AttemptNumber, as[1].AttemptNumber, as[2].AttemptNumber})
	require.Equal(t, int32(3), calls.Load(), "no request is sent before it is due")
	for range 3 {
		require.Equal(t, "evt_1", <-ids, "webhook-id is stable across attempts")
	}
}

func TestWorkerGivesUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		code     int
		attempts int
		reason   error
	}{
		{"retries exhausted", 500, 3, delivery.ErrRetriesExhausted},
		{"gone", 410, 1, delivery.ErrEndpointGone},
		{"client error", 400, 1, delivery.ErrNotRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupWorker(t, func(c *delivery.Config) {
				c.Retry = func(a delivery.Attempt, err error) (time.Duration, error) {
					if _, final := delivery.DefaultRetryPolicy(a, err); final != nil && !errors.Is(final, delivery.ErrRetriesExhausted) {
						return 0, final
					}
					if a.AttemptNumber >= 3 {
						return 0, delivery.ErrRetriesExhausted
					}
					return 0, nil
				}
			})
			srv := receiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.code) })
			ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
			b.endpoints.set(ep)
			_, err := b.d.Enqueue(context.Background(), delivery.Event{ID: "evt_1"}, ep, nil)
			require.NoError(t, err)
			require.NoError(t, b.d.Start(context.Background()))
			reason := <-b.exhausted
			require.ErrorIs(t, reason, tt.reason)
			as := b.attempts(t, "evt_1")
			require.Len(t, as, tt.attempts)
			for _, a := range as {
				require.Equal(t, delivery.StatusFailure, a.Status)
			}
		})
	}
}

// A sender that died leaves its attempt leased; when the lease ends, the
// worker records it as failed and sends the retry.
func TestWorkerTakesOverExpiredLease(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	ep, calls := b.countingEndpoint(t)
	now := b.clock.Now()
	orphan := delivery.Attempt{ID: "01J00000000000000000000001", EventID: "evt_1", EndpointID: "ep_1", EndpointURL: ep.URL,
		Status: delivery.StatusPending, AttemptNumber: 1, Trigger: delivery.TriggerFirst, ScheduledAt: now}
	require.NoError(t, b.store.Insert(context.Background(), delivery.Job{Attempt: orphan, Payload: []byte("{}"),
		Lease: delivery.Lease{Owner: "dead-process", Until: now.Add(time.Minute)}}))
	require.NoError(t, b.d.Start(context.Background()))

	time.Sleep(50 * time.Millisecond) // ten polls: the lease holds
	require.Zero(t, calls.Load())
	b.clock.Advance(61 * time.Second)
	waitFor(t, "the orphan is taken over", func() bool { return len(b.attempts(t, "evt_1")) == 2 })
	b.clock.Advance(7 * time.Second)
	waitFor(t, "its retry is delivered on the schedule", func() bool {
		as := b.attempts(t, "evt_1")
		return len(as) == 2 && as[1].Status == delivery.StatusSuccess
	})
	as := b.attempts(t, "evt_1")
	require.Equal(t, delivery.StatusFailure, as[0].Status)
	require.Contains(t, as[0].Error, "lease expired")
	require.True(t, as[0].AttemptedAt.IsZero(), "when it was sent is unknown")
	require.Equal(t, 2, as[1].AttemptNumber)
	require.Equal(t, int32(1), calls.Load())
}

func TestWorkerEndpointChanges(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	got := make(chan *http.Request, 10)
	srv := receiver(t, func(_ http.ResponseWriter, r *http.Request) { got <- r })
	oldURL, newURL := srv.URL+"/old", srv.URL+"/new"
	ctx := context.Background()

	// Enqueued for the old URL; sent after the host moved it and rotated
	// the secret.
	_, err := b.d.Enqueue(ctx, delivery.Event{ID: "evt_1", Payload: []byte("{}")}, delivery.Endpoint{ID: "ep_1", URL: oldURL}, nil)
	require.NoError(t, err)
	secret := delivery.NewSecret()
	b.endpoints.set(delivery.Endpoint{ID: "ep_1", URL: newURL, Secrets: []string{secret}})
	require.NoError(t, b.d.Start(ctx))
	r := <-got
	require.Equal(t, "/new", r.URL.Path)
	v, err := delivery.NewVerifier(secret)
	require.NoError(t, err)
	v.Now = b.clock.Now
	require.NoError(t, v.Verify(r.Header, []byte("{}")), "signed with the current secret")
	waitFor(t, "the new attempt is recorded", func() bool {
		as := b.attempts(t, "evt_1")
		return len(as) == 2 && as[1].Status == delivery.StatusSuccess
	})
	as := b.attempts(t, "evt_1")
	require.Equal(t, oldURL, as[0].EndpointURL, "the old record keeps the URL it was made for")
	require.Equal(t, delivery.StatusCanceled, as[0].Status)
	require.Contains(t, as[0].Error, "superseded by attempt "+as[1].ID)
	require.Equal(t, newURL, as[1].EndpointURL)
	require.Equal(t, []int{1, 2}, numbers(as), "the new attempt takes the next number")

	// An endpoint the host deleted cancels its pending attempts: when the
	// worker meets the first one that is due, it cancels the later one too.
	_, err = b.d.Enqueue(ctx, delivery.Event{ID: "evt_3"}, delivery.Endpoint{ID: "ep_gone", URL: srv.URL}, &delivery.EnqueueOpts{ScheduledAt: b.clock.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = b.d.Enqueue(ctx, delivery.Event{ID: "evt_2"}, delivery.Endpoint{ID: "ep_gone", URL: srv.URL}, nil)
	require.NoError(t, err)
	waitFor(t, "both canceled", func() bool {
		a2, a3 := b.attempts(t, "evt_2"), b.attempts(t, "evt_3")
		return a2[0].Status == delivery.StatusCanceled && a3[0].Status == delivery.StatusCanceled
	})
	require.Len(t, got, 0, "nothing was sent to the gone endpoint")
}

func TestCancelEvent(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	ep, calls := b.countingEndpoint(t)
	ctx := context.Background()
	later := &delivery.EnqueueOpts{ScheduledAt: b.clock.Now().Add(time.Hour)}
	for _, id := range []string{"ep_1", "ep_2"} {
		_, err := b.d.Enqueue(ctx, delivery.Event{ID: "evt_deleted"}, delivery.Endpoint{ID: id, URL: ep.URL}, later)
		require.NoError(t, err)
	}
	_, err := b.d.Enqueue(ctx, delivery.Event{ID: "evt_kept"}, ep, later)
	require.NoError(t, err)
	n, err := b.d.CancelEvent(ctx, "evt_deleted")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.NoError(t, b.d.Start(ctx))
	b.clock.Advance(2 * time.Hour)
	waitFor(t, "the kept event is delivered", func() bool { return b.attempts(t, "evt_kept")[0].Status == delivery.StatusSuccess })
	require.Equal(t, []delivery.Status{delivery.StatusCanceled, delivery.StatusCanceled}, statuses(b.attempts(t, "evt_deleted")))
	require.Equal(t, int32(1), calls.Load())
	_, err = b.d.CancelEvent(ctx, "")
	require.ErrorIs(t, err, delivery.ErrInvalidInput)
}

func TestResendAndRedeliverFailed(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, func(c *delivery.Config) {
		c.Retry = func(delivery.Attempt, error) (time.Duration, error) { return 0, delivery.ErrRetriesExhausted }
	})
	var down atomic.Bool
	down.Store(true)
	srv := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	b.endpoints.set(ep)
	ctx := context.Background()
	for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
		_, err := b.d.Deliver(ctx, delivery.Event{ID: id, Type: "t", Payload: []byte(`{"id":"` + id + `"}`)}, ep)
		require.ErrorIs(t, err, delivery.ErrRetriesExhausted)
	}
	down.Store(false)

	a, err := b.d.Resend(ctx, "evt_1", "ep_1")
	require.NoError(t, err)
	require.Equal(t, delivery.TriggerManual, a.Trigger)
	require.Equal(t, 2, a.AttemptNumber, "the attempt number continues")
	_, err = b.d.Resend(ctx, "evt_missing", "ep_1")
	require.ErrorIs(t, err, delivery.ErrNotFound)

	b.clock.Advance(time.Minute)
	n, err := b.d.RedeliverFailed(ctx, "ep_1", b.clock.Now().Add(-time.Hour))
	require.NoError(t, err)
	require.Equal(t, 2, n, "evt_1 succeeded on resend; evt_2 and evt_3 are recovered")
	require.NoError(t, b.d.Start(ctx))
	for _, id := range []string{"evt_2", "evt_3"} {
		waitFor(t, id+" recovered", func() bool {
			as := b.attempts(t, id)
			return len(as) == 2 && as[1].Status == delivery.StatusSuccess
		})
		as := b.attempts(t, id)
		require.Equal(t, delivery.TriggerManual, as[1].Trigger)
		require.Equal(t, 2, as[1].AttemptNumber)
	}
	n, err = b.d.RedeliverFailed(ctx, "ep_1", b.clock.Now().Add(-time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to recover")

	// Concurrent resends of one event each get a number of their own, and
	// the numbers stay consecutive.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := b.d.Resend(ctx, "evt_3", "ep_1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, sortedNumbers(b.attempts(t, "evt_3")))
}

// sortedNumbers returns the attempt numbers of as, sorted.
func sortedNumbers(as []delivery.Attempt) []int {
	return slices.Sorted(slices.Values(numbers(as)))
}

func TestWorkerPerEndpointLimit(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, func(c *delivery.Config) { c.Workers, c.PerEndpoint = 8, 2 })
	var mu sync.Mutex
	active := map[string]int{}
	maxActive := map[string]int{}
	srv := receiver(t, func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		active[r.URL.Path]++
		maxActive[r.URL.Path] = max(maxActive[r.URL.Path], active[r.URL.Path])
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		active[r.URL.Path]--
		mu.Unlock()
	})
	ctx := context.Background()
	for _, id := range []string{"ep_slow", "ep_other"} {
		b.endpoints.set(delivery.Endpoint{ID: id, URL: srv.URL + "/" + id})
	}
	for i := range 24 {
		id := []string{"ep_slow", "ep_slow", "ep_other"}[i%3]
		_, err := b.d.Enqueue(ctx, delivery.Event{ID: "evt_" + string(rune('a'+i))}, delivery.Endpoint{ID: id, URL: srv.URL + "/" + id}, nil)
		require.NoError(t, err)
	}
	require.NoError(t, b.d.Start(ctx))
	waitFor(t, "all delivered", func() bool {
		page, err := b.store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusSuccess}})
		return err == nil && len(page.Attempts) == 24
	})
	mu.Lock()
	defer mu.Unlock()
	require.LessOrEqual(t, maxActive["/ep_slow"], 2)
	require.LessOrEqual(t, maxActive["/ep_other"], 2)
}

// Stop under load loses nothing: what was in flight is recorded, what was
// not claimed stays pending for the next worker.
func TestStopUnderLoad(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	var calls atomic.Int32
	srv := receiver(t, func(http.ResponseWriter, *http.Request) {
		calls.Add(1)
		time.Sleep(5 * time.Millisecond)
	})
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	b.endpoints.set(ep)
	ctx := context.Background()
	const n = 200
	for i := range n {
		_, err := b.d.Enqueue(ctx, delivery.Event{ID: fmt.Sprintf("evt_%d", i)}, ep, nil)
		require.NoError(t, err)
	}
	require.NoError(t, b.d.Start(ctx))
	waitFor(t, "some are sent", func() bool { return calls.Load() > 20 })
	require.NoError(t, b.d.Stop(ctx))
	sent := calls.Load()
	page, err := b.store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusSuccess}, Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page.Attempts, int(sent), "every request sent is recorded")
	require.Less(t, int(sent), n, "Stop stopped claiming")

	// A new worker finishes the rest, each exactly once.
	require.NoError(t, b.d.Start(ctx))
	waitFor(t, "the rest delivered", func() bool {
		page, err := b.store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusSuccess}, Limit: 1000})
		return err == nil && len(page.Attempts) == n
	})
	page, err = b.store.List(ctx, delivery.ListQuery{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page.Attempts, n, "one attempt per event: none lost, none repeated")
	require.Equal(t, int32(n), calls.Load())
}

func TestStopDeadlineAbortsSends(t *testing.T) {
	t.Parallel()
	b := setupWorker(t, nil)
	arrived := make(chan struct{}, 1)
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		hang(w, r)
	})
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	b.endpoints.set(ep)
	ctx := context.Background()
	_, err := b.d.Enqueue(ctx, delivery.Event{ID: "evt_1"}, ep, nil)
	require.NoError(t, err)
	require.NoError(t, b.d.Start(ctx))
	<-arrived
	stopCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.d.Stop(stopCtx), context.DeadlineExceeded)
	as := b.attempts(t, "evt_1")
	require.Len(t, as, 2, "the aborted attempt is recorded, with its retry")
	require.Equal(t, delivery.StatusFailure, as[0].Status)
	require.Equal(t, delivery.StatusPending, as[1].Status)
}

func TestStartNeedsEndpoints(t *testing.T) {
	t.Parallel()
	d, err := delivery.NewDispatcher(memstore.New(), nil)
	require.NoError(t, err)
	require.NoError(t, d.Stop(context.Background()), "Stop before Start is harmless")
	require.ErrorIs(t, d.Start(context.Background()), delivery.ErrInvalidInput)
	_, err = d.Resend(context.Background(), "evt_1", "ep_1")
	require.ErrorIs(t, err, delivery.ErrInvalidInput)
	_, err = delivery.NewDispatcher(memstore.New(), &delivery.Config{Timeout: time.Second, Lease: time.Second})
	require.ErrorContains(t, err, "Lease (1s) must exceed Timeout (1s)")
}

func TestEnqueueTxNeedsTxStore(t *testing.T) {
	t.Parallel()
	d, err := delivery.NewDispatcher(memstore.New(), nil)
	require.NoError(t, err)
	_, err = d.EnqueueTx(context.Background(), nil, delivery.Event{ID: "evt_1"}, delivery.Endpoint{ID: "ep_1", URL: "https://example.com/"}, nil)
	require.ErrorIs(t, err, delivery.ErrInvalidInput)
	require.ErrorContains(t, err, "TxStore")
}

// recordGate is a store whose Complete waits until open is closed.
type recordGate struct {
	*memstore.Store
	open    chan struct{}
	waiting atomic.Int32
}

func (g *recordGate) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	g.waiting.Add(1)
	<-g.open
	return g.Store.Complete(ctx, final, next)
}

// A worker is free for the next request as soon as its request ends, while
// the outcome is still being written; the attempts held, sent or being
// recorded, stay within twice Workers.
func TestWorkerFreesWorkerWhileRecording(t *testing.T) {
	t.Parallel()
	store := &recordGate{Store: memstore.New(), open: make(chan struct{})}
	calls := new(atomic.Int32)
	srv := receiver(t, func(http.ResponseWriter, *http.Request) { calls.Add(1) })
	// Three endpoints: an endpoint's place is taken until its attempt is
	// recorded, a worker only until its request ends.
	endpoint := func(id string) delivery.Endpoint { return delivery.Endpoint{ID: id, URL: srv.URL + "/" + id} }
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		AddressPolicy: loopback,
		Workers:       1,
		PerEndpoint:   1,
		PollInterval:  5 * time.Millisecond,
		LookupEndpoint: func(_ context.Context, id string) (delivery.Endpoint, error) {
			return endpoint(id), nil
		},
	})
	require.NoError(t, err)
	ctx := context.Background()
	for _, id := range []string{"1", "2", "3"} {
		_, err := d.Enqueue(ctx, delivery.Event{ID: "evt_" + id}, endpoint("ep_"+id), nil)
		require.NoError(t, err)
	}
	require.NoError(t, d.Start(ctx))
	waitFor(t, "a second request while the first outcome is being recorded", func() bool {
		return calls.Load() == 2 && store.waiting.Load() == 2
	})
	// Several poll intervals: a worker that held more than two attempts
	// would have sent the third by now.
	time.Sleep(100 * time.Millisecond)
	require.EqualValues(t, 2, calls.Load(), "one worker holds at most two attempts")

	close(store.open)
	waitFor(t, "all three delivered", func() bool {
		page, err := store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusSuccess}})
		return err == nil && len(page.Attempts) == 3
	})
	require.NoError(t, d.Stop(ctx))
	require.EqualValues(t, 3, calls.Load())
}
