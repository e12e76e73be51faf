package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// testQueueStats checks what a StatsStore reports: the due pending
// attempts, leased or not, of endpoints neither paused nor disabled, the
// earliest of them, and the endpoints in each state.
func testQueueStats(t *testing.T, s delivery.Store) {
	ss, ok := s.(delivery.StatsStore)
	if !ok {
		t.Skip("the store reports no queue stats")
	}
	ctx := context.Background()
	stats := func(now time.Time) delivery.QueueStats {
		t.Helper()
		st, err := ss.QueueStats(ctx, now)
		require.NoError(t, err)
		return st
	}
	require.Equal(t, delivery.QueueStats{}, stats(base), "an empty store")

	oldest := pending("evt_oldest", "ep_1")
	oldest.ScheduledAt = base.Add(-time.Hour)
	held := pending("evt_held", "ep_2")
	held.ScheduledAt = base.Add(-time.Minute)
	due := pending("evt_due", "ep_1")
	future := pending("evt_future", "ep_1")
	future.ScheduledAt = base.Add(time.Hour)
	done := pending("evt_done", "ep_3")
	done.ScheduledAt = base.Add(-2 * time.Hour)
	insert(t, s, oldest, due, future, done)
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: held, Lease: delivery.Lease{Owner: "w1", Until: base.Add(time.Minute)}}))
	require.NoError(t, s.Complete(ctx, completed(done, delivery.StatusSuccess), nil))

	st := stats(base)
	require.Equal(t, int64(3), st.Due, "due and pending, leased or not; neither future nor final")
	require.True(t, oldest.ScheduledAt.Equal(st.OldestDue), "the earliest due: %v", st.OldestDue)
	require.Equal(t, time.UTC, st.OldestDue.Location())
	require.Equal(t, int64(4), stats(base.Add(time.Hour)).Due, "due exactly at now counts")
	require.Equal(t, delivery.QueueStats{}, stats(base.Add(-2*time.Hour)), "nothing was due yet")

	hs, ok := s.(delivery.HealthStore)
	if !ok {
		return
	}
	// A paused endpoint's backlog is left out until the pause ends, and a
	// disabled one's until it is resumed.
	_, err := hs.Pause(ctx, delivery.PauseRequest{EndpointID: "ep_1", Until: base.Add(time.Minute), Cooldown: time.Minute})
	require.NoError(t, err)
	st = stats(base)
	require.Equal(t, delivery.QueueStats{Due: 1, OldestDue: held.ScheduledAt, Paused: 1}, st)
	st = stats(base.Add(2 * time.Minute))
	require.Equal(t, int64(1), st.Probing, "the pause is over and the breaker half-open")
	require.Equal(t, int64(3), st.Due)

	disabled, err := hs.Disable(ctx, "ep_2", base)
	require.NoError(t, err)
	require.True(t, disabled)
	st = stats(base.Add(2 * time.Minute))
	require.Equal(t, delivery.QueueStats{Due: 2, OldestDue: oldest.ScheduledAt, Probing: 1, Disabled: 1}, st)
	require.NoError(t, hs.Resume(ctx, "ep_2"))
	require.NoError(t, hs.Resume(ctx, "ep_1"))
	st = stats(base)
	require.Equal(t, delivery.QueueStats{Due: 3, OldestDue: oldest.ScheduledAt}, st)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ss.QueueStats(cctx, base)
	require.ErrorIs(t, err, context.Canceled)
}
