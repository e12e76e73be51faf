package memstore_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

// modelRow is what TestClaimMatchesModel knows of a pending attempt.
type modelRow struct {
	id         string
	endpoint   string
	scheduled  time.Time
	lease      delivery.Lease
	cancelWish bool
	// reclaimed is set once a claim took the attempt over from an ended
	// lease; a release keeps it.
	reclaimed bool
}

// TestClaimMatchesModel runs a long random sequence of inserts, claims
// (with clocks that go back as well as forward), completions, releases and
// cancels, and checks every claim against the rule written plainly: the
// pending attempts due at Now whose lease does not hold at Now, by
// schedule then ID, at most Limit; reclaimed once a lease ended unreleased,
// and still after a release.
func TestClaimMatchesModel(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2)) // #nosec G404 -- a reproducible sequence for a test
	s := memstore.New()
	model := map[string]*modelRow{}
	at := func(maxSeconds int) time.Time {
		return base.Add(time.Duration(rng.IntN(maxSeconds*1000)) * time.Millisecond)
	}
	n := 0
	for step := range 5000 {
		switch op := rng.IntN(10); {
		case op < 3: // insert a few, some already leased as Deliver does
			var jobs []delivery.Job
			for range 1 + rng.IntN(4) {
				n++
				r := &modelRow{id: fmt.Sprintf("%026d", n), endpoint: fmt.Sprintf("ep_%d", rng.IntN(3)), scheduled: at(60)}
				if rng.IntN(4) == 0 {
					r.lease = delivery.Lease{Owner: "sender", Until: at(120)}
				}
				model[r.id] = r
				jobs = append(jobs, delivery.Job{Attempt: delivery.Attempt{ID: r.id, EventID: "evt_" + r.id, EndpointID: r.endpoint,
					EndpointURL: "https://example.com/", Status: delivery.StatusPending, AttemptNumber: 1,
					Trigger: delivery.TriggerFirst, ScheduledAt: r.scheduled}, Lease: r.lease})
			}
			require.NoError(t, s.Insert(ctx, jobs...))
		case op < 7: // claim
			now, limit, owner := at(120), 1+rng.IntN(5), fmt.Sprintf("w%d", step)
			var want []*modelRow
			for _, r := range model {
				if !r.scheduled.After(now) && !(r.lease.Owner != "" && r.lease.Until.After(now)) {
					want = append(want, r)
				}
			}
			slices.SortFunc(want, func(a, b *modelRow) int {
				return cmp.Or(a.scheduled.Compare(b.scheduled), cmp.Compare(a.id, b.id))
			})
			want = want[:min(limit, len(want))]
			jobs, err := s.Claim(ctx, delivery.ClaimRequest{Owner: owner, Now: now, Until: now.Add(time.Duration(1+rng.IntN(30)) * time.Second), Limit: limit})
			require.NoError(t, err)
			require.Len(t, jobs, len(want), "step %d: claim at %v", step, now)
			for i, j := range jobs {
				r := want[i]
				require.Equal(t, r.id, j.Attempt.ID, "step %d: claim at %v, job %d", step, now, i)
				r.reclaimed = r.reclaimed || r.lease.Owner != ""
				require.Equal(t, r.reclaimed, j.Reclaimed, "step %d: attempt %s", step, r.id)
				r.lease = j.Lease
			}
		case op < 8: // complete one
			if r := anyRow(rng, model); r != nil {
				a, err := s.Get(ctx, r.id)
				require.NoError(t, err)
				a.Status, a.AttemptedAt = delivery.StatusSuccess, base
				require.NoError(t, s.Complete(ctx, a, nil))
				delete(model, r.id)
			}
		case op < 9: // release one by its owner
			if r := anyRow(rng, model); r != nil && r.lease.Owner != "" {
				require.NoError(t, s.Release(ctx, r.lease.Owner, r.id))
				r.lease = delivery.Lease{}
				if r.cancelWish {
					delete(model, r.id)
				}
			}
		default: // cancel an endpoint's attempts
			ep, now := fmt.Sprintf("ep_%d", rng.IntN(3)), at(120)
			_, err := s.Cancel(ctx, delivery.CancelRequest{EndpointID: ep, Now: now})
			require.NoError(t, err)
			for id, r := range model {
				switch {
				case r.endpoint != ep:
				case r.lease.Owner != "" && r.lease.Until.After(now):
					r.cancelWish = true
				default:
					delete(model, id)
				}
			}
		}
	}
	page, err := s.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}, Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page.Attempts, len(model), "the store and the model agree on what is pending")
}

// anyRow returns a pending row of model, or nil when there is none.
func anyRow(rng *rand.Rand, model map[string]*modelRow) *modelRow {
	if len(model) == 0 {
		return nil
	}
	ids := make([]string, 0, len(model))
	for id := range model {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return model[ids[rng.IntN(len(ids))]]
}
