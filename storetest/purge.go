package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// purgeStore returns s as a PurgeStore, or skips the test.
func purgeStore(t *testing.T, s delivery.Store) delivery.PurgeStore {
	ps, ok := s.(delivery.PurgeStore)
	if !ok {
		t.Skip("the store does not purge")
	}
	return ps
}

// finalAt stores a pending attempt of event to endpoint scheduled at
// scheduled, and completes it as status, sent at sent (unless canceled).
func finalAt(t *testing.T, s delivery.Store, event, endpoint string, status delivery.Status, scheduled, sent time.Time) delivery.Attempt {
	t.Helper()
	a := pending(event, endpoint)
	a.ScheduledAt = scheduled
	insert(t, s, a)
	f := completed(a, status)
	if status != delivery.StatusCanceled {
		f.AttemptedAt = sent
	}
	require.NoError(t, s.Complete(context.Background(), f, nil))
	return f
}

// testPurge checks what Purge deletes: final attempts scheduled, and sent
// if they were, before the time; never a pending one, nor one sent
// since; the event's payload with its last attempt; at most limit a call.
func testPurge(t *testing.T, s delivery.Store) {
	ps := purgeStore(t, s)
	ctx := context.Background()
	before := base.Add(-time.Hour)
	old := base.Add(-3 * time.Hour)

	success := finalAt(t, s, "evt_success", "ep_1", delivery.StatusSuccess, old, old.Add(time.Second))
	canceled := finalAt(t, s, "evt_canceled", "ep_1", delivery.StatusCanceled, old, time.Time{})
	// A failure whose retry is still pending: the retry, and so the event,
	// stay.
	failure := pending("evt_retried", "ep_2")
	failure.ScheduledAt = old
	retry := pending("evt_retried", "ep_2")
	retry.ScheduledAt = old.Add(time.Minute)
	insert(t, s, failure)
	failed := completed(failure, delivery.StatusFailure)
	failed.AttemptedAt = old.Add(time.Second)
	require.NoError(t, s.Complete(ctx, failed, &delivery.Job{Attempt: retry, Payload: []byte(`{"retry":true}`)}))
	// Kept: sent after the time although scheduled long before it, due
	// exactly at the time, recent, and pending.
	late := finalAt(t, s, "evt_late", "ep_1", delivery.StatusSuccess, old, base)
	edge := finalAt(t, s, "evt_edge", "ep_1", delivery.StatusFailure, before, before)
	recent := finalAt(t, s, "evt_recent", "ep_1", delivery.StatusSuccess, base, base.Add(time.Second))
	stale := pending("evt_stale", "ep_3")
	stale.ScheduledAt = old
	insert(t, s, stale)

	n, err := ps.Purge(ctx, before, 100)
	require.NoError(t, err)
	require.Equal(t, 3, n, "the old success, cancel and failure")
	for _, a := range []delivery.Attempt{success, canceled, failed} {
		_, err := s.Get(ctx, a.ID)
		require.ErrorIs(t, err, delivery.ErrNotFound, "attempt of %s purged", a.EventID)
	}
	for _, a := range []delivery.Attempt{retry, late, edge, recent, stale} {
		requireStored(t, s, a)
	}
	page, err := s.List(ctx, delivery.ListQuery{})
	require.NoError(t, err)
	require.Len(t, page.Attempts, 5, "List no longer shows purged attempts")
	for _, id := range []string{"evt_success", "evt_canceled"} {
		_, err := s.Event(ctx, id)
		require.ErrorIs(t, err, delivery.ErrNotFound, "the payload of %s went with its last attempt", id)
	}
	ev, err := s.Event(ctx, "evt_retried")
	require.NoError(t, err)
	require.Equal(t, job(failure).Payload, ev.Payload, "the pending retry keeps its event")

	n, err = ps.Purge(ctx, before, 100)
	require.NoError(t, err)
	require.Zero(t, n, "nothing older is left")

	// The limit bounds each call.
	for i := range 5 {
		finalAt(t, s, "evt_batch", "ep_"+string(rune('a'+i)), delivery.StatusSuccess, old, old)
	}
	for _, want := range []int{2, 2, 1, 0} {
		n, err := ps.Purge(ctx, before, 2)
		require.NoError(t, err)
		require.Equal(t, want, n)
	}

	// The pending attempts left are claimed and completed as before.
	jobs, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "w1", Now: base, Until: base.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	for _, j := range jobs {
		require.NoError(t, s.Complete(ctx, completed(j.Attempt, delivery.StatusSuccess), nil))
	}

	for _, bad := range []struct {
		before time.Time
		limit  int
	}{{before, 0}, {before, -1}, {time.Time{}, 10}} {
		_, err := ps.Purge(ctx, bad.before, bad.limit)
		require.ErrorIs(t, err, delivery.ErrInvalidInput, "before %v, limit %d", bad.before, bad.limit)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ps.Purge(cctx, base.Add(time.Hour), 10)
	require.ErrorIs(t, err, context.Canceled)
	requireStored(t, s, recent)
}

// testConcurrentPurges checks that purges at once delete each attempt
// once: their counts add up to the attempts there were.
func testConcurrentPurges(t *testing.T, s delivery.Store) {
	ps := purgeStore(t, s)
	const n = 120
	old := base.Add(-3 * time.Hour)
	for i := range n {
		finalAt(t, s, "evt_many", "ep_"+string(rune('a'+i%26))+string(rune('a'+i/26)), delivery.StatusSuccess, old, old)
	}
	keep := finalAt(t, s, "evt_keep", "ep_1", delivery.StatusSuccess, base, base)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				got, err := ps.Purge(context.Background(), base.Add(-time.Hour), 7)
				if err != nil {
					t.Errorf("purge: %v", err)
					return
				}
				mu.Lock()
				total += got
				mu.Unlock()
				if got == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, n, total, "each attempt deleted once")
	requireStored(t, s, keep)
}
