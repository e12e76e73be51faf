package delivery_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
	"github.com/webhookkit/delivery/sqlstore"
)

// healthless hides a store's endpoint health, as a host's own store that
// keeps none would: the Dispatcher then keeps health in its process.
type healthless struct{ delivery.Store }

// onEachStore runs test, in parallel, on each store the scheduling tests
// run on: memstore, SQLite, and a store that keeps no health.
func onEachStore(t *testing.T, test func(t *testing.T, store delivery.Store)) {
	t.Parallel()
	for name, newStore := range map[string]func(t *testing.T) delivery.Store{
		"memstore": func(*testing.T) delivery.Store { return memstore.New() },
		"sqlite": func(t *testing.T) delivery.Store {
			db, err := sqlstore.OpenSQLite(filepath.Join(t.TempDir(), "fair.db"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			s, err := sqlstore.New(db, nil)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(context.Background()))
			return s
		},
		"healthless": func(*testing.T) delivery.Store { return healthless{memstore.New()} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newStore(t))
		})
	}
}

// openCounter counts the requests a receiver holds open, per endpoint, and
// the most it ever held at once.
type openCounter struct {
	mu   sync.Mutex
	open map[string]int
	most map[string]int
	got  map[string]int
}

func newOpenCounter() *openCounter {
	return &openCounter{open: map[string]int{}, most: map[string]int{}, got: map[string]int{}}
}

// enter counts a request to endpoint as open and returns its exit.
func (c *openCounter) enter(endpoint string) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open[endpoint]++
	c.got[endpoint]++
	c.most[endpoint] = max(c.most[endpoint], c.open[endpoint])
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.open[endpoint]--
	}
}

func (c *openCounter) snapshot() (got, most map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got, most = map[string]int{}, map[string]int{}
	for k, v := range c.got {
		got[k] = v
	}
	for k, v := range c.most {
		most[k] = v
	}
	return got, most
}

// An endpoint that never answers holds at most PerEndpoint requests open,
// and its backlog, however long, delays no other endpoint: every healthy
// endpoint's attempts go out while the held endpoint's are still pending.
func TestHeldEndpointDelaysNoOther(t *testing.T) {
	onEachStore(t, func(t *testing.T, store delivery.Store) {
		const held, healthy, perEndpoint = 300, 5, 2
		counter := newOpenCounter()
		srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
			ep := strings.TrimPrefix(r.URL.Path, "/")
			defer counter.enter(ep)()
			if ep == "held" {
				hang(w, r)
			}
		})
		d, err := delivery.NewDispatcher(store, &delivery.Config{
			AddressPolicy: loopback,
			Workers:       8,
			PerEndpoint:   perEndpoint,
			PollInterval:  5 * time.Millisecond,
			Timeout:       time.Hour, // the held requests end when the test stops the worker
			LookupEndpoint: func(_ context.Context, id string) (delivery.Endpoint, error) {
				return delivery.Endpoint{ID: id, URL: srv.URL + "/" + id}, nil
			},
		})
		require.NoError(t, err)
		ctx := context.Background()
		// The held endpoint's backlog is enqueued first, due earliest.
		for i := range held {
			_, err := d.Enqueue(ctx, delivery.Event{ID: fmt.Sprintf("evt_h%d", i)}, delivery.Endpoint{ID: "held", URL: srv.URL + "/held"}, nil)
			require.NoError(t, err)
		}
		for i := range healthy * 4 {
			ep := fmt.Sprintf("ok_%d", i%healthy)
			_, err := d.Enqueue(ctx, delivery.Event{ID: fmt.Sprintf("evt_%d", i)}, delivery.Endpoint{ID: ep, URL: srv.URL + "/" + ep}, nil)
			require.NoError(t, err)
		}
		require.NoError(t, d.Start(ctx))
		waitFor(t, "every healthy endpoint's attempts delivered", func() bool {
			page, err := store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusSuccess}})
			return err == nil && len(page.Attempts) == healthy*4
		})
		got, most := counter.snapshot()
		require.LessOrEqual(t, got["held"], perEndpoint, "the held endpoint got no more requests than its places")
		require.Equal(t, perEndpoint, most["held"])
		pending, err := store.List(ctx, delivery.ListQuery{EndpointID: "held", Statuses: []delivery.Status{delivery.StatusPending}, Limit: delivery.MaxListLimit})
		require.NoError(t, err)
		require.Len(t, pending.Attempts, held, "the held endpoint's backlog is still pending")

		stop, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, d.Stop(stop), context.DeadlineExceeded, "the held requests are aborted")
		_, most = counter.snapshot()
		for ep, n := range most {
			require.LessOrEqual(t, n, perEndpoint, "endpoint %s", ep)
		}
	})
}

// breakerBundle is a worker on a fake clock whose endpoint ep_1 answers
// with the status it is told, counting requests.
type breakerBundle struct {
	store   delivery.Store
	d       *delivery.Dispatcher
	clock   *fakeClock
	status  atomic.Int32
	calls   atomic.Int32
	changes chan delivery.EndpointHealth
	ep      delivery.Endpoint
	events  int
}

// setupBreaker makes a Dispatcher that sends to ep_1 on a receiver that
// answers b.status, at most perEndpoint at a time.
func setupBreaker(t *testing.T, store delivery.Store, breaker delivery.Breaker, perEndpoint int, header http.Header) *breakerBundle {
	b := &breakerBundle{store: store, clock: &fakeClock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)},
		changes: make(chan delivery.EndpointHealth, 100)}
	b.status.Store(http.StatusInternalServerError)
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b.calls.Add(1)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(int(b.status.Load()))
	})
	b.ep = delivery.Endpoint{ID: "ep_1", URL: srv.URL}
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		Now:              b.clock.Now,
		AddressPolicy:    loopback,
		PollInterval:     5 * time.Millisecond,
		PerEndpoint:      perEndpoint,
		Retry:            delivery.NewRetryPolicy(), // no retries: each event is tried once
		Breaker:          breaker,
		OnEndpointHealth: func(_ context.Context, h delivery.EndpointHealth) { b.changes <- h },
		LookupEndpoint: func(context.Context, string) (delivery.Endpoint, error) {
			return b.ep, nil
		},
	})
	require.NoError(t, err)
	b.d = d
	t.Cleanup(func() { require.NoError(t, d.Stop(context.Background())) })
	return b
}

// enqueue enqueues n events to ep_1.
func (b *breakerBundle) enqueue(t *testing.T, n int) {
	for range n {
		b.events++
		_, err := b.d.Enqueue(context.Background(), delivery.Event{ID: fmt.Sprintf("evt_%d", b.events)}, b.ep, nil)
		require.NoError(t, err)
		b.clock.Advance(time.Microsecond)
	}
}

// change waits for the next endpoint state change.
func (b *breakerBundle) change(t *testing.T) delivery.EndpointHealth {
	t.Helper()
	select {
	case h := <-b.changes:
		return h
	case <-time.After(time.Minute):
		t.Fatal("no endpoint state change")
		return delivery.EndpointHealth{}
	}
}

// pending counts ep_1's pending attempts.
func (b *breakerBundle) pending(t *testing.T) int {
	page, err := b.store.List(context.Background(), delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}, Limit: delivery.MaxListLimit})
	require.NoError(t, err)
	return len(page.Attempts)
}

// After Threshold consecutive failures the breaker opens: nothing more is
// sent until the cool-down ends, then one probe at a time; a failed probe
// doubles the cool-down, a successful one closes the breaker.
func TestBreakerOpensProbesAndCloses(t *testing.T) {
	onEachStore(t, func(t *testing.T, store delivery.Store) {
		ctx := context.Background()
		b := setupBreaker(t, store, delivery.Breaker{Threshold: 3, Cooldown: time.Minute}, 1, nil)
		b.enqueue(t, 10)
		require.NoError(t, b.d.Start(ctx))
		h := b.change(t)
		require.Equal(t, delivery.HealthPaused, h.State(b.clock.Now()))
		require.Equal(t, 3, h.Failures)
		require.Equal(t, time.Minute, h.Cooldown)
		require.NoError(t, b.d.Stop(ctx))
		// The breaker opens before the third failure is recorded, so
		// that no claim takes the next attempt in between.
		sent := int(b.calls.Load())
		require.Equal(t, 3, sent, "nothing is sent once it opened")
		require.Equal(t, 10-sent, b.pending(t), "the rest stays pending")

		b.clock.Advance(time.Minute)
		require.NoError(t, b.d.Start(ctx))
		h = b.change(t)
		require.Equal(t, 2*time.Minute, h.Cooldown, "a failed probe doubles the cool-down")
		require.NoError(t, b.d.Stop(ctx))
		require.EqualValues(t, sent+1, b.calls.Load(), "one probe")

		b.status.Store(http.StatusOK)
		b.clock.Advance(2 * time.Minute)
		require.NoError(t, b.d.Start(ctx))
		h = b.change(t)
		require.Equal(t, delivery.HealthOK, h.State(b.clock.Now()), "the probe's success closes the breaker")
		waitFor(t, "the rest delivered", func() bool { return b.pending(t) == 0 })
		require.EqualValues(t, 10, b.calls.Load())
	})
}

// completeGate holds each Complete until n of them have begun, so that n
// failures are all judged before any of them is recorded.
type completeGate struct {
	mu    sync.Mutex
	begun int
	n     int
	open  chan struct{}
}

func newCompleteGate(n int) *completeGate { return &completeGate{n: n, open: make(chan struct{})} }

func (g *completeGate) pass() {
	g.mu.Lock()
	g.begun++
	if g.begun == g.n {
		close(g.open)
	}
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-time.After(time.Minute): // a bound on a hang; the test then fails on its counts
	}
}

// gatedHealth and gated pass every Complete through a completeGate, the
// first for a store that keeps health and the second for one that does
// not.
type gatedHealth struct {
	delivery.HealthStore
	gate *completeGate
}

func (s gatedHealth) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	s.gate.pass()
	return s.HealthStore.Complete(ctx, final, next)
}

type gated struct {
	delivery.Store
	gate *completeGate
}

func (s gated) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	s.gate.pass()
	return s.Store.Complete(ctx, final, next)
}

// Failures of one endpoint that are recorded at the same time open its
// breaker at the threshold, once: each was judged on the streak before any
// of them was recorded, so none of them saw the threshold reached there.
func TestConcurrentFailuresOpenBreaker(t *testing.T) {
	onEachStore(t, func(t *testing.T, store delivery.Store) {
		ctx := context.Background()
		const threshold = 4
		gate := newCompleteGate(threshold)
		if hs, ok := store.(delivery.HealthStore); ok {
			store = gatedHealth{hs, gate}
		} else {
			store = gated{store, gate}
		}
		b := setupBreaker(t, store, delivery.Breaker{Threshold: threshold, Cooldown: time.Minute}, threshold, nil)
		b.enqueue(t, threshold)
		require.NoError(t, b.d.Start(ctx))
		h := b.change(t)
		require.Equal(t, delivery.HealthPaused, h.State(b.clock.Now()))
		require.Equal(t, threshold, h.Failures)
		require.Equal(t, time.Minute, h.Cooldown)
		waitFor(t, "every failure recorded", func() bool { return b.pending(t) == 0 })
		require.NoError(t, b.d.Stop(ctx))
		require.Empty(t, b.changes, "the host is told once")
		require.EqualValues(t, threshold, b.calls.Load())
		got, err := b.d.EndpointHealth(ctx, "ep_1")
		require.NoError(t, err)
		require.Equal(t, delivery.HealthPaused, got.State(b.clock.Now()))
		require.Equal(t, threshold, got.Failures)
	})
}

// A 429 with Retry-After pauses the whole endpoint until then.
func TestRetryAfterPausesEndpoint(t *testing.T) {
	onEachStore(t, func(t *testing.T, store delivery.Store) {
		ctx := context.Background()
		b := setupBreaker(t, store, delivery.Breaker{Threshold: -1}, 1, http.Header{"Retry-After": {"120"}})
		b.status.Store(http.StatusTooManyRequests)
		b.enqueue(t, 1)
		require.NoError(t, b.d.Start(ctx))
		h := b.change(t)
		require.Equal(t, delivery.HealthPaused, h.State(b.clock.Now()))
		require.WithinDuration(t, b.clock.Now().Add(120*time.Second), h.PausedUntil, time.Second)
		b.status.Store(http.StatusOK)
		b.enqueue(t, 3)
		b.d.Wake()
		require.NoError(t, b.d.Stop(ctx))
		require.EqualValues(t, 1, b.calls.Load(), "nothing is sent during the pause")
		require.Equal(t, 3, b.pending(t))

		b.clock.Advance(121 * time.Second)
		require.NoError(t, b.d.Start(ctx))
		waitFor(t, "sent after the pause", func() bool { return b.pending(t) == 0 })
		require.EqualValues(t, 4, b.calls.Load())
	})
}

// An endpoint that fails for DisableAfter is disabled, once: the host is
// told, nothing more is sent, and ResumeEndpoint sends again.
func TestDisableAfterFailing(t *testing.T) {
	onEachStore(t, func(t *testing.T, store delivery.Store) {
		ctx := context.Background()
		b := setupBreaker(t, store, delivery.Breaker{Threshold: -1, DisableAfter: time.Hour}, 1, nil)
		b.enqueue(t, 1)
		require.NoError(t, b.d.Start(ctx))
		waitFor(t, "a first failure", func() bool { return b.pending(t) == 0 })
		b.clock.Advance(time.Hour)
		b.enqueue(t, 3)
		b.d.Wake()
		h := b.change(t)
		require.Equal(t, delivery.HealthDisabled, h.State(b.clock.Now()))
		require.False(t, h.DisabledAt.IsZero())
		require.NoError(t, b.d.Stop(ctx))
		require.Empty(t, b.changes, "the host is told once")
		require.EqualValues(t, 2, b.calls.Load(), "nothing more is sent once disabled")
		got, err := b.d.EndpointHealth(ctx, "ep_1")
		require.NoError(t, err)
		require.Equal(t, delivery.HealthDisabled, got.State(b.clock.Now()))

		b.status.Store(http.StatusOK)
		require.NoError(t, b.d.Start(ctx))
		require.NoError(t, b.d.ResumeEndpoint(ctx, "ep_1"))
		require.Equal(t, delivery.HealthOK, b.change(t).State(b.clock.Now()))
		waitFor(t, "the rest delivered after the resume", func() bool { return b.pending(t) == 0 })
		require.EqualValues(t, 4, b.calls.Load())
	})
}

// A rate-limited endpoint gets its burst, then is paused until its next
// token instead of holding workers; other endpoints go on.
func TestRateLimitPausesEndpoint(t *testing.T) {
	onEachStore(t, func(t *testing.T, store delivery.Store) {
		ctx := context.Background()
		b := setupBreaker(t, store, delivery.Breaker{}, 1, nil)
		b.status.Store(http.StatusOK)
		b.ep.RateLimit, b.ep.Burst = 1.0/3600, 2 // two now, then one an hour
		b.enqueue(t, 5)
		require.NoError(t, b.d.Start(ctx))
		var h delivery.EndpointHealth
		waitFor(t, "the endpoint paused", func() bool {
			var err error
			h, err = b.d.EndpointHealth(ctx, "ep_1")
			return err == nil && h.State(b.clock.Now()) == delivery.HealthPaused
		})
		require.WithinDuration(t, b.clock.Now().Add(time.Hour), h.PausedUntil, 2*time.Minute)
		require.NoError(t, b.d.Stop(ctx))
		require.EqualValues(t, 2, b.calls.Load(), "the burst")
		require.Equal(t, 3, b.pending(t))
	})
}
