package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

// Retention needs a Store that can purge, and valid durations.
func TestRetentionConfig(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store delivery.Store
		cfg   delivery.Config
	}{
		{"store without Purge", healthless{memstore.New()}, delivery.Config{Retention: time.Hour}},
		{"negative retention", memstore.New(), delivery.Config{Retention: -time.Hour}},
		{"negative interval", memstore.New(), delivery.Config{Retention: time.Hour, PurgeInterval: -time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := delivery.NewDispatcher(tt.store, &tt.cfg)
			require.ErrorIs(t, err, delivery.ErrInvalidInput)
		})
	}
	d, err := delivery.NewDispatcher(memstore.New(), nil)
	require.NoError(t, err)
	_, err = d.Purge(context.Background())
	require.ErrorIs(t, err, delivery.ErrInvalidInput, "Purge without a Retention")
	d, err = delivery.NewDispatcher(healthless{memstore.New()}, nil)
	require.NoError(t, err, "a store without Purge is fine without Retention")
	_, err = d.Purge(context.Background())
	require.ErrorIs(t, err, delivery.ErrInvalidInput)
}

// The worker purges the attempts older than the retention when it starts,
// and again every PurgeInterval, in batches, and keeps the rest; an event
// whose attempts are gone cannot be resent.
func TestWorkerPurges(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := memstore.New()
	ep := delivery.Endpoint{ID: "ep_1", URL: srv.URL, Secrets: []string{delivery.NewSecret()}}
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		Now: clock.Now, AddressPolicy: loopback, Retention: 24 * time.Hour, PurgeInterval: 5 * time.Millisecond,
		LookupEndpoint: func(context.Context, string) (delivery.Endpoint, error) { return ep, nil },
	})
	require.NoError(t, err)
	ctx := context.Background()
	deliver := func(prefix string, n int) {
		for i := range n {
			_, err := d.Deliver(ctx, delivery.Event{ID: fmt.Sprintf("%s_%d", prefix, i), Type: "t", Payload: []byte(`{}`)}, ep)
			require.NoError(t, err)
		}
	}
	count := func() int {
		n := 0
		for q := (delivery.ListQuery{Limit: delivery.MaxListLimit}); ; {
			page, err := store.List(ctx, q)
			require.NoError(t, err)
			n += len(page.Attempts)
			if page.Next == "" {
				return n
			}
			q.After = page.Next
		}
	}

	deliver("old", delivery.PurgeBatch+5) // more than one batch
	clock.Advance(12 * time.Hour)
	deliver("mid", 3)
	clock.Advance(13 * time.Hour) // old is 25 h old, mid 13 h
	deliver("new", 2)

	require.NoError(t, d.Start(ctx))
	waitFor(t, "the old attempts purged at start", func() bool { return count() == 5 })
	_, err = d.Resend(ctx, "old_0", "ep_1")
	require.ErrorIs(t, err, delivery.ErrNotFound, "the payload went with the attempts")

	clock.Advance(12 * time.Hour) // mid is 25 h old
	waitFor(t, "the next purge, an interval later", func() bool { return count() == 2 })
	require.NoError(t, d.Stop(ctx))

	clock.Advance(48 * time.Hour)
	n, err := d.Purge(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n, "a host purges too, worker or not")
}

// slowPurges is a PurgeStore whose first full batches each take a while,
// and which records when each purge call began and ended.
type slowPurges struct {
	*memstore.Store
	full  int
	calls [][2]time.Time
	// cancel, when set, is called as the first batch ends.
	cancel context.CancelFunc
}

func (s *slowPurges) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	n := 0
	if len(s.calls) < s.full {
		n = limit
	}
	s.calls = append(s.calls, [2]time.Time{start, time.Now()})
	if s.cancel != nil && len(s.calls) == 1 {
		s.cancel()
	}
	return n, nil
}

// A purge rests between its batches, PurgeRest times as long as each one
// took, and a canceled context ends the rest at once.
func TestPurgeRestsBetweenBatches(t *testing.T) {
	store := &slowPurges{Store: memstore.New(), full: 3}
	d, err := delivery.NewDispatcher(store, &delivery.Config{Retention: time.Hour})
	require.NoError(t, err)
	n, err := d.Purge(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3*delivery.PurgeBatch, n)
	require.Len(t, store.calls, 4, "three full batches, then one that found nothing")
	for i := 1; i < len(store.calls); i++ {
		took := store.calls[i-1][1].Sub(store.calls[i-1][0])
		gap := store.calls[i][0].Sub(store.calls[i-1][1])
		require.GreaterOrEqual(t, gap, delivery.PurgeRest*took, "batch %d followed batch %d after %v; it took %v", i, i-1, gap, took)
	}

	// Canceled as its first batch ends: it returns what it deleted and
	// the context's error, and runs no more batch.
	ctx, cancel := context.WithCancel(context.Background())
	store = &slowPurges{Store: memstore.New(), full: 1000, cancel: cancel}
	d, err = delivery.NewDispatcher(store, &delivery.Config{Retention: time.Hour})
	require.NoError(t, err)
	n, err = d.Purge(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, delivery.PurgeBatch, n)
	require.Len(t, store.calls, 1)
}
