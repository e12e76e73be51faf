package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// testReleaseKeepsReclaimed checks that the mark "its last holder may have
// sent it" survives a Release by the owner that reclaimed the attempt, so
// that the next claim still records the earlier request before sending.
func testReleaseKeepsReclaimed(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a, fresh := pending("evt_1", "ep_1"), pending("evt_2", "ep_1")
	insert(t, s, a, fresh)
	require.Len(t, claim(t, s, "dead", base, 1), 1, "the holder that dies takes a")
	jobs := claim(t, s, "w1", base.Add(2*time.Minute), 10)
	require.Equal(t, []string{a.ID, fresh.ID}, jobIDs(jobs))
	require.True(t, jobs[0].Reclaimed)
	require.False(t, jobs[1].Reclaimed, "fresh was never leased")

	require.NoError(t, s.Release(ctx, "w1", a.ID, fresh.ID))
	jobs = claim(t, s, "w2", base.Add(2*time.Minute), 10)
	require.Equal(t, []string{a.ID, fresh.ID}, jobIDs(jobs))
	require.True(t, jobs[0].Reclaimed, "a release by the owner that reclaimed it keeps the mark")
	require.False(t, jobs[1].Reclaimed, "a released attempt that nobody may have sent is not reclaimed")

	// The mark lasts through more releases and takeovers, until the
	// attempt is completed.
	require.NoError(t, s.Release(ctx, "w2", a.ID))
	jobs = claim(t, s, "w3", base.Add(2*time.Minute), 1)
	require.Equal(t, []string{a.ID}, jobIDs(jobs))
	require.True(t, jobs[0].Reclaimed)
	f := completed(a, delivery.StatusFailure)
	f.AttemptedAt, f.Response, f.ResponseStatusCode, f.ResponseHeaders, f.Error = time.Time{}, "", 0, nil, "lease expired"
	require.NoError(t, s.Complete(ctx, f, nil))
	requireStored(t, s, f)
}

// testReleaseEndedLease checks the lease edge cases of Release: it takes no
// time, so an owner ends its own lease after it ran out, as long as nobody
// took the attempt over; once someone did, the old owner's Release does
// nothing.
func testReleaseEndedLease(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a, b := pending("evt_1", "ep_1"), pending("evt_2", "ep_1")
	insert(t, s, a, b)
	require.Len(t, claim(t, s, "w1", base, 10), 2, "leased until base+1m")

	// a's lease ran out and nobody claimed it; w1 says it did not send it.
	require.NoError(t, s.Release(ctx, "w1", a.ID))
	jobs := claim(t, s, "w2", base.Add(2*time.Minute), 1)
	require.Equal(t, []string{a.ID}, jobIDs(jobs))
	require.False(t, jobs[0].Reclaimed, "its owner released it, ended or not")

	// b was taken over by w3; w1's late Release changes nothing.
	jobs = claim(t, s, "w3", base.Add(2*time.Minute), 1)
	require.Equal(t, []string{b.ID}, jobIDs(jobs))
	require.True(t, jobs[0].Reclaimed)
	require.NoError(t, s.Release(ctx, "w1", b.ID))
	require.Empty(t, claim(t, s, "w4", base.Add(2*time.Minute+30*time.Second), 10), "w3 still holds b")
}

// testCancelSurvivesTakeover checks that a cancel requested while an
// attempt was in flight still drops the retry when the holder died and
// another owner reclaimed and completed the attempt, and still cancels it
// when that owner releases it instead; by event and by endpoint alike.
func testCancelSurvivesTakeover(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	for i, req := range []delivery.CancelRequest{{EventID: "evt_1"}, {EndpointID: "ep_9"}} {
		// Each round an hour later, as a Store's clock runs: an endpoint's
		// new work waits for no claim before the last one that served it.
		at := base.Add(time.Duration(i) * time.Hour)
		done, released := pending("evt_1", "ep_9"), pending("evt_1", "ep_9")
		done.ScheduledAt, released.ScheduledAt = at, at
		insert(t, s, done, released)
		require.Len(t, claim(t, s, "dead", at, 10), 2, "leased until a minute later")
		req.Now = at.Add(time.Second)
		n, err := s.Cancel(ctx, req)
		require.NoError(t, err)
		require.Zero(t, n, "both are in flight")

		jobs := claim(t, s, "w1", at.Add(2*time.Minute), 10)
		require.Equal(t, []string{done.ID, released.ID}, jobIDs(jobs))
		f := completed(done, delivery.StatusFailure)
		retry := pending("evt_1", "ep_9")
		require.NoError(t, s.Complete(ctx, f, &delivery.Job{Attempt: retry}))
		requireStored(t, s, f)
		_, err = s.Get(ctx, retry.ID)
		require.ErrorIs(t, err, delivery.ErrNotFound, "the retry of an attempt canceled in flight is dropped, whoever completes it (%+v)", req)

		require.NoError(t, s.Release(ctx, "w1", released.ID))
		requireStored(t, s, completed(released, delivery.StatusCanceled))
	}
	require.Empty(t, claim(t, s, "w2", base.Add(3*time.Hour), 10))
}

// testInsertLeases checks that a lease is both an owner and an end, or
// neither.
func testInsertLeases(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	for _, l := range []delivery.Lease{{Owner: "sender"}, {Until: base.Add(time.Minute)}} {
		a := pending("evt_1", "ep_1")
		err := s.Insert(ctx, delivery.Job{Attempt: a, Lease: l})
		require.ErrorIs(t, err, delivery.ErrInvalidInput, "lease %+v", l)
		_, err = s.Get(ctx, a.ID)
		require.ErrorIs(t, err, delivery.ErrNotFound)
	}
}
