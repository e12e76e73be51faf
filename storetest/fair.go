package storetest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// fairRow is what testFairClaims knows of a pending attempt.
type fairRow struct {
	a          delivery.Attempt
	lease      delivery.Lease
	reclaimed  bool
	cancelWish bool
}

func (r *fairRow) held(now time.Time) bool {
	return r.lease.Owner != "" && r.lease.Until.After(now)
}

// testFairClaims runs a seeded random sequence of inserts (some leased at
// insert, as Deliver does), claims by several owners at increasing times,
// completions, releases and cancels on five endpoints, and checks every
// claim against the rules of Fair claims:
//   - each job was due and claimable, and is its endpoint's earliest;
//   - no endpoint served has more than PerEndpoint leases that hold;
//   - Reclaimed is set exactly for attempts whose lease ended unreleased;
//   - no endpoint that has a due, claimable attempt and room waits while
//     another endpoint is served twice.
func testFairClaims(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	const endpoints, perEndpoint = 5, 2
	rng := rand.New(rand.NewPCG(7, 11)) // #nosec G404 -- a reproducible sequence for a test
	now := base
	rows := map[string]*fairRow{}
	// servedWhileWaiting[x][y] counts the claims that served y while x had
	// due work and room but was not served.
	servedWhileWaiting := map[string]map[string]int{}
	eligible := func(ep string) bool {
		held, due := 0, false
		for _, r := range rows {
			if r.a.EndpointID != ep {
				continue
			}
			if r.held(now) {
				held++
			} else if !r.a.ScheduledAt.After(now) {
				due = true
			}
		}
		return due && held < perEndpoint
	}
	pick := func() *fairRow {
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, 0, len(rows))
		for id := range rows {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return rows[ids[rng.IntN(len(ids))]]
	}
	for step := range 1500 {
		now = now.Add(time.Duration(1+rng.IntN(400)) * time.Millisecond)
		switch op := rng.IntN(20); {
		case op < 6: // insert a few
			var jobs []delivery.Job
			for range 1 + rng.IntN(4) {
				a := pending(fmt.Sprintf("evt_%d", step), fmt.Sprintf("ep_%d", rng.IntN(endpoints)))
				a.ScheduledAt = now.Add(time.Duration(rng.IntN(3000)-1000) * time.Millisecond)
				r := &fairRow{a: a}
				if rng.IntN(8) == 0 {
					r.lease = delivery.Lease{Owner: "sender", Until: now.Add(time.Duration(1+rng.IntN(3)) * time.Second)}
				}
				rows[a.ID] = r
				jobs = append(jobs, delivery.Job{Attempt: a, Lease: r.lease})
			}
			require.NoError(t, s.Insert(ctx, jobs...), "step %d", step)
		case op < 14: // claim
			waiting := map[string]bool{}
			for i := range endpoints {
				if ep := fmt.Sprintf("ep_%d", i); eligible(ep) {
					waiting[ep] = true
				}
			}
			req := delivery.ClaimRequest{Owner: fmt.Sprintf("w%d", rng.IntN(3)), Now: now,
				Until: now.Add(time.Duration(1+rng.IntN(3)) * time.Second), Limit: 1 + rng.IntN(4), PerEndpoint: perEndpoint}
			jobs, err := s.Claim(ctx, req)
			require.NoError(t, err, "step %d", step)
			require.LessOrEqual(t, len(jobs), req.Limit, "step %d", step)
			served := map[string][]string{}
			for _, j := range jobs {
				r := rows[j.Attempt.ID]
				require.NotNil(t, r, "step %d: claimed %s, which is not pending", step, j.Attempt.ID)
				require.False(t, r.a.ScheduledAt.After(now), "step %d: %s is not due", step, r.a.ID)
				require.False(t, r.held(now), "step %d: %s is leased", step, r.a.ID)
				r.reclaimed = r.reclaimed || r.lease.Owner != ""
				require.Equal(t, r.reclaimed, j.Reclaimed, "step %d: Reclaimed of %s", step, r.a.ID)
				served[r.a.EndpointID] = append(served[r.a.EndpointID], r.a.ID)
			}
			for ep, ids := range served {
				// The endpoint's earliest due, claimable attempts.
				var want []*fairRow
				for _, r := range rows {
					if r.a.EndpointID == ep && !r.held(now) && !r.a.ScheduledAt.After(now) {
						want = append(want, r)
					}
				}
				slices.SortFunc(want, func(a, b *fairRow) int {
					return cmp.Or(a.a.ScheduledAt.Compare(b.a.ScheduledAt), cmp.Compare(a.a.ID, b.a.ID))
				})
				var wantIDs []string
				for _, r := range want[:len(ids)] {
					wantIDs = append(wantIDs, r.a.ID)
				}
				slices.Sort(ids)
				slices.Sort(wantIDs)
				require.Equal(t, wantIDs, ids, "step %d: %s's earliest attempts", step, ep)
			}
			for _, j := range jobs {
				rows[j.Attempt.ID].lease = j.Lease
			}
			for ep := range served {
				held := 0
				for _, r := range rows {
					if r.a.EndpointID == ep && r.held(now) {
						held++
					}
				}
				require.LessOrEqual(t, held, perEndpoint, "step %d: %s has more leases than PerEndpoint", step, ep)
			}
			for x := range waiting {
				if served[x] != nil {
					delete(servedWhileWaiting, x)
					continue
				}
				if servedWhileWaiting[x] == nil {
					servedWhileWaiting[x] = map[string]int{}
				}
				for y := range served {
					servedWhileWaiting[x][y]++
					require.Less(t, servedWhileWaiting[x][y], 2, "step %d: %s was served twice while %s waited with due work and room", step, y, x)
				}
			}
			for x := range servedWhileWaiting {
				if !waiting[x] {
					delete(servedWhileWaiting, x)
				}
			}
		case op < 17: // complete one
			if r := pick(); r != nil {
				f := completed(r.a, []delivery.Status{delivery.StatusSuccess, delivery.StatusFailure}[rng.IntN(2)])
				require.NoError(t, s.Complete(ctx, f, nil), "step %d", step)
				delete(rows, r.a.ID)
			}
		case op < 19: // release one by its owner
			if r := pick(); r != nil && r.lease.Owner != "" {
				require.NoError(t, s.Release(ctx, r.lease.Owner, r.a.ID), "step %d", step)
				r.lease = delivery.Lease{}
				if r.cancelWish {
					delete(rows, r.a.ID)
				}
			}
		default: // cancel an endpoint's attempts
			ep := fmt.Sprintf("ep_%d", rng.IntN(endpoints))
			_, err := s.Cancel(ctx, delivery.CancelRequest{EndpointID: ep, Now: now})
			require.NoError(t, err, "step %d", step)
			for id, r := range rows {
				switch {
				case r.a.EndpointID != ep:
				case r.held(now):
					r.cancelWish = true
				default:
					delete(rows, id)
				}
			}
		}
	}
	page, err := s.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}, Limit: delivery.MaxListLimit})
	require.NoError(t, err)
	require.Len(t, page.Attempts, len(rows), "the store and the model agree on what is pending")
}

// testConcurrentFairClaims has several owners claim one backlog at once,
// one attempt of each endpoint at a time (PerEndpoint 1), completing what
// they claim: no endpoint ever has two leases that hold, and every attempt
// is claimed once.
func testConcurrentFairClaims(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	const n, endpoints, owners = 90, 3, 6
	var attempts []delivery.Attempt
	for i := range n {
		attempts = append(attempts, pending(fmt.Sprintf("evt_%d", i), fmt.Sprintf("ep_%d", i%endpoints)))
	}
	insert(t, s, attempts...)
	var mu sync.Mutex
	inFlight := map[string]string{} // endpoint -> attempt leased
	claimed := map[string]bool{}
	var wg sync.WaitGroup
	// Owners whose claims come back empty, because the places are taken,
	// claim again until every attempt is claimed; the deadline only keeps
	// a store that loses an endpoint's turn from hanging the suite.
	deadline := time.Now().Add(time.Minute)
	for w := range owners {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for time.Now().Before(deadline) {
				jobs, err := s.Claim(ctx, delivery.ClaimRequest{Owner: owner, Now: base, Until: base.Add(time.Minute), Limit: 2, PerEndpoint: 1})
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				mu.Lock()
				done := len(claimed) == n
				for _, j := range jobs {
					if other, ok := inFlight[j.Attempt.EndpointID]; ok {
						t.Errorf("%s claimed %s while %s of the same endpoint was leased", owner, j.Attempt.ID, other)
					}
					if claimed[j.Attempt.ID] {
						t.Errorf("%s claimed twice", j.Attempt.ID)
					}
					inFlight[j.Attempt.EndpointID], claimed[j.Attempt.ID] = j.Attempt.ID, true
				}
				mu.Unlock()
				if done {
					return
				}
				for _, j := range jobs {
					// Forget the lease before completing, so that a claim
					// that sees the place free never finds it taken.
					mu.Lock()
					delete(inFlight, j.Attempt.EndpointID)
					mu.Unlock()
					if err := s.Complete(ctx, completed(j.Attempt, delivery.StatusSuccess), nil); err != nil {
						t.Errorf("complete: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, claimed, n, "every attempt is claimed once, within a minute")
}
