package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// healthStore returns s as a HealthStore, or skips the test.
func healthStore(t *testing.T, s delivery.Store) delivery.HealthStore {
	hs, ok := s.(delivery.HealthStore)
	if !ok {
		t.Skip("the store keeps no endpoint health")
	}
	return hs
}

// testHealth checks that Complete records each outcome in the endpoint's
// health, as EndpointHealth.Record says, and a rejected completion none.
func testHealth(t *testing.T, s delivery.Store) {
	hs := healthStore(t, s)
	ctx := context.Background()
	h, err := hs.Health(ctx, "ep_new")
	require.NoError(t, err)
	require.Equal(t, delivery.EndpointHealth{EndpointID: "ep_new"}, h, "nothing recorded")

	a, b, c, d := pending("evt_1", "ep_1"), pending("evt_2", "ep_1"), pending("evt_3", "ep_1"), pending("evt_4", "ep_1")
	insert(t, s, a, b, c, d)
	want := delivery.EndpointHealth{EndpointID: "ep_1"}
	for i, step := range []struct {
		a      delivery.Attempt
		status delivery.Status
	}{{a, delivery.StatusFailure}, {b, delivery.StatusFailure}, {c, delivery.StatusCanceled}, {d, delivery.StatusSuccess}} {
		f := completed(step.a, step.status)
		f.AttemptedAt = base.Add(time.Duration(i) * time.Second)
		f.ResponseStatusCode = 500 + i
		f.Error = "HTTP 50x"
		require.NoError(t, s.Complete(ctx, f, nil))
		want = want.Record(f)
		h, err := hs.Health(ctx, "ep_1")
		require.NoError(t, err)
		require.Equal(t, want, h, "after completion %d as %v", i, step.status)
		if i == 1 {
			require.Equal(t, 2, h.Failures)
			require.True(t, base.Equal(h.FailingSince), "the streak began with the first failure")
			require.Equal(t, delivery.HealthFailing, h.State(base))
			// A completion that is refused records nothing.
			require.ErrorIs(t, s.Complete(ctx, completed(a, delivery.StatusSuccess), nil), delivery.ErrNotPending)
			h, err = hs.Health(ctx, "ep_1")
			require.NoError(t, err)
			require.Equal(t, want, h)
		}
	}
	require.Equal(t, delivery.HealthOK, want.State(base))

	// A failure that sent no request (a lease that ended, a lookup that
	// failed) is not the endpoint's: it changes nothing.
	e := pending("evt_5", "ep_1")
	insert(t, s, e)
	f := completed(e, delivery.StatusFailure)
	f.AttemptedAt, f.ResponseStatusCode, f.Error = time.Time{}, 0, "lease expired"
	require.NoError(t, s.Complete(ctx, f, nil))
	h, err = hs.Health(ctx, "ep_1")
	require.NoError(t, err)
	require.Equal(t, want, h)
}

// testHealthPause checks that a paused endpoint's attempts are not claimed
// until the pause ends, that a pause never shortens another, and that a
// success lifts it.
func testHealthPause(t *testing.T, s delivery.Store) {
	hs := healthStore(t, s)
	ctx := context.Background()
	paused, other := pending("evt_1", "ep_paused"), pending("evt_1", "ep_other")
	insert(t, s, paused, other)
	_, err := hs.Pause(ctx, delivery.PauseRequest{Until: base.Add(time.Minute)})
	require.ErrorIs(t, err, delivery.ErrInvalidInput, "a pause names an endpoint")
	h, err := hs.Pause(ctx, delivery.PauseRequest{EndpointID: "ep_paused", Until: base.Add(time.Minute)})
	require.NoError(t, err)
	require.True(t, base.Add(time.Minute).Equal(h.PausedUntil))
	require.Zero(t, h.Cooldown, "a pause without a cool-down leaves the breaker closed")
	h, err = hs.Pause(ctx, delivery.PauseRequest{EndpointID: "ep_paused", Until: base.Add(time.Second)})
	require.NoError(t, err)
	require.True(t, base.Add(time.Minute).Equal(h.PausedUntil), "a shorter pause changes nothing")

	require.Equal(t, []string{other.ID}, jobIDs(claim(t, s, "w1", base, 10)), "the paused endpoint is skipped")
	require.NoError(t, s.Complete(ctx, completed(other, delivery.StatusSuccess), nil))
	require.Empty(t, claim(t, s, "w1", base.Add(59*time.Second), 10))
	require.Equal(t, []string{paused.ID}, jobIDs(claim(t, s, "w1", base.Add(time.Minute), 10)), "claimed once the pause ends")

	// Work that arrives during a pause waits for its end too.
	late := pending("evt_2", "ep_paused")
	late.ScheduledAt = base.Add(2 * time.Minute)
	insert(t, s, late)
	_, err = hs.Pause(ctx, delivery.PauseRequest{EndpointID: "ep_paused", Until: base.Add(time.Hour)})
	require.NoError(t, err)
	fresh := pending("evt_3", "ep_paused")
	fresh.ScheduledAt = base.Add(3 * time.Minute)
	insert(t, s, fresh)
	require.Empty(t, claim(t, s, "w1", base.Add(30*time.Minute), 10))
	// The attempt in flight succeeds: that lifts the pause.
	require.NoError(t, s.Complete(ctx, completed(paused, delivery.StatusSuccess), nil))
	h, err = hs.Health(ctx, "ep_paused")
	require.NoError(t, err)
	require.True(t, h.PausedUntil.IsZero())
	require.Equal(t, []string{late.ID, fresh.ID}, jobIDs(claim(t, s, "w1", base.Add(30*time.Minute), 10)))
}

// testHealthProbe checks the half-open breaker: once the pause of an open
// breaker ends, one attempt at a time goes out, marked Probe, whatever
// PerEndpoint allows; its success closes the breaker.
func testHealthProbe(t *testing.T, s delivery.Store) {
	hs := healthStore(t, s)
	ctx := context.Background()
	a, b, c := pending("evt_1", "ep_1"), pending("evt_2", "ep_1"), pending("evt_3", "ep_1")
	insert(t, s, a, b, c)
	h, err := hs.Pause(ctx, delivery.PauseRequest{EndpointID: "ep_1", Until: base.Add(time.Minute), Cooldown: time.Minute})
	require.NoError(t, err)
	require.Equal(t, time.Minute, h.Cooldown)
	require.Equal(t, delivery.HealthPaused, h.State(base))
	require.Equal(t, delivery.HealthProbing, h.State(base.Add(time.Minute)))

	req := delivery.ClaimRequest{Owner: "w1", Now: base.Add(time.Minute), Until: base.Add(2 * time.Minute), Limit: 10, PerEndpoint: 4}
	jobs, err := s.Claim(ctx, req)
	require.NoError(t, err)
	require.Equal(t, []string{a.ID}, jobIDs(jobs), "one probe")
	require.True(t, jobs[0].Probe)
	jobs, err = s.Claim(ctx, req)
	require.NoError(t, err)
	require.Empty(t, jobs, "one probe at a time")

	require.NoError(t, s.Complete(ctx, completed(a, delivery.StatusSuccess), nil))
	h, err = hs.Health(ctx, "ep_1")
	require.NoError(t, err)
	require.Zero(t, h.Cooldown, "the probe's success closes the breaker")
	jobs, err = s.Claim(ctx, req)
	require.NoError(t, err)
	require.Equal(t, []string{b.ID, c.ID}, jobIDs(jobs))
	require.False(t, jobs[0].Probe)
}

// testHealthDisable checks that a disabled endpoint's attempts stay
// pending and unclaimed, that exactly one Disable reports the change, and
// that Resume sends again with a clean health.
func testHealthDisable(t *testing.T, s delivery.Store) {
	hs := healthStore(t, s)
	ctx := context.Background()
	a := pending("evt_1", "ep_1")
	insert(t, s, a)
	require.NoError(t, s.Complete(ctx, completed(a, delivery.StatusFailure), nil))
	b := pending("evt_2", "ep_1")
	insert(t, s, b)
	changed, err := hs.Disable(ctx, "ep_1", base.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = hs.Disable(ctx, "ep_1", base.Add(2*time.Hour))
	require.NoError(t, err)
	require.False(t, changed, "disabled once")
	h, err := hs.Health(ctx, "ep_1")
	require.NoError(t, err)
	require.True(t, base.Add(time.Hour).Equal(h.DisabledAt))
	require.Equal(t, delivery.HealthDisabled, h.State(base))

	c := pending("evt_3", "ep_1")
	insert(t, s, c)
	require.Empty(t, claim(t, s, "w1", base.Add(24*time.Hour), 10), "nothing of a disabled endpoint is claimed")
	requireStored(t, s, b)

	require.NoError(t, hs.Resume(ctx, "ep_1"))
	h, err = hs.Health(ctx, "ep_1")
	require.NoError(t, err)
	require.Equal(t, delivery.HealthOK, h.State(base))
	require.Zero(t, h.Failures)
	require.Equal(t, []string{b.ID, c.ID}, jobIDs(claim(t, s, "w1", base, 10)), "resumed")
}
