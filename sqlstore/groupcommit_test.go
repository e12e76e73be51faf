package sqlstore_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

// TestGroupCommit sends a burst of concurrent writes, some of which must
// fail, and checks that every caller gets the outcome its write would have
// had alone, and that the database holds exactly the writes that
// succeeded: with transactions shared and with one a write.
func TestGroupCommit(t *testing.T) {
	for _, e := range engines(t) {
		// Shared transactions are set explicitly: MySQL does without
		// them by default.
		for _, groupCommit := range []int{sqlstore.DefaultGroupCommit, 1} {
			t.Run(fmt.Sprintf("%s/GroupCommit=%d", e.name, groupCommit), func(t *testing.T) {
				s := newGroupCommitStore(t, serverPool(e.open(t), e), groupCommit)
				batched, largest := watchBatches(s)
				burst(t, s)
				if groupCommit > 1 {
					require.Greater(t, largest.Load(), int64(1), "no two writes shared a transaction")
				} else {
					require.Zero(t, batched.Load(), "GroupCommit=1 still batched writes")
				}
			})
		}
	}
}

// together runs f(0) to f(n-1) from n goroutines released at once, so
// that their writes meet in the store, and returns their errors.
func together(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// burst runs the writes of TestGroupCommit against s, several rounds.
func burst(t *testing.T, s *sqlstore.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	job := func(id string) delivery.Job {
		return delivery.Job{Attempt: delivery.Attempt{ID: id, EventID: "evt_" + id, EndpointID: "ep_1", EndpointURL: "https://example.com/",
			Status: delivery.StatusPending, AttemptNumber: 1, Trigger: delivery.TriggerFirst, ScheduledAt: now},
			Payload: []byte(`{"id":"` + id + `"}`), Lease: delivery.Lease{Owner: "w1", Until: now.Add(time.Hour)}}
	}
	final := func(id string, st delivery.Status) delivery.Attempt {
		a := job(id).Attempt
		a.Status, a.AttemptedAt, a.ResponseStatusCode = st, now, 500
		if st == delivery.StatusSuccess {
			a.ResponseStatusCode = 204
		}
		return a
	}
	retry := func(id string) *delivery.Job {
		j := job(id + "r")
		j.Attempt.Trigger, j.Attempt.AttemptNumber, j.Lease = delivery.TriggerRetry, 2, delivery.Lease{}
		return &j
	}
	for round := range 3 {
		id := func(kind string, i int) string { return fmt.Sprintf("%d%s%03d", round, kind, i) }
		// Set up: pending attempts to complete, attempts already final,
		// and attempts whose event was canceled while they were leased.
		var setup []delivery.Job
		for i := range 20 {
			setup = append(setup, job(id("ok", i)), job(id("fail", i)), job(id("final", i)), job(id("canc", i)))
		}
		require.NoError(t, s.Insert(ctx, setup...))
		for i := range 20 {
			require.NoError(t, s.Complete(ctx, final(id("final", i), delivery.StatusSuccess), nil))
			_, err := s.Cancel(ctx, delivery.CancelRequest{EventID: "evt_" + id("canc", i), Now: now})
			require.NoError(t, err)
		}

		type call struct {
			name string
			do   func() error
			want error
		}
		var calls []call
		for i := range 20 {
			calls = append(calls,
				call{"complete " + id("ok", i), func() error { return s.Complete(ctx, final(id("ok", i), delivery.StatusSuccess), nil) }, nil},
				call{"retry " + id("fail", i), func() error {
					return s.Complete(ctx, final(id("fail", i), delivery.StatusFailure), retry(id("fail", i)))
				}, nil},
				call{"complete canceled " + id("canc", i), func() error {
					return s.Complete(ctx, final(id("canc", i), delivery.StatusFailure), retry(id("canc", i)))
				}, nil},
				call{"complete final " + id("final", i), func() error {
					return s.Complete(ctx, final(id("final", i), delivery.StatusFailure), retry(id("final", i)))
				}, delivery.ErrNotPending},
				call{"complete missing " + id("none", i), func() error { return s.Complete(ctx, final(id("none", i), delivery.StatusSuccess), nil) }, delivery.ErrNotFound},
				call{"insert " + id("new", i), func() error { return s.Insert(ctx, job(id("new", i))) }, nil},
			)
		}
		// A duplicate fails its whole batch, so that the others run alone:
		// the batches first, then the fallback.
		var fallback []call
		for i := range 20 {
			fallback = append(fallback,
				call{"insert " + id("more", i), func() error { return s.Insert(ctx, job(id("more", i))) }, nil},
				call{"insert duplicate " + id("ok", i), func() error { return s.Insert(ctx, job(id("ok", i))) }, delivery.ErrDuplicate},
			)
		}
		for _, calls := range [][]call{calls, fallback} {
			errs := together(len(calls), func(i int) error { return calls[i].do() })
			for i, c := range calls {
				if c.want == nil {
					require.NoError(t, errs[i], c.name)
				} else {
					require.ErrorIs(t, errs[i], c.want, c.name)
				}
			}
		}

		for i := range 20 {
			for _, check := range []struct {
				id   string
				want delivery.Status
			}{
				{id("ok", i), delivery.StatusSuccess},
				{id("fail", i), delivery.StatusFailure},
				{id("fail", i) + "r", delivery.StatusPending},
				{id("canc", i), delivery.StatusFailure},
				{id("final", i), delivery.StatusSuccess},
				{id("new", i), delivery.StatusPending},
				{id("more", i), delivery.StatusPending},
			} {
				a, err := s.Get(ctx, check.id)
				require.NoError(t, err, check.id)
				require.Equal(t, check.want, a.Status, check.id)
			}
			for _, missing := range []string{id("canc", i) + "r", id("final", i) + "r", id("none", i)} {
				_, err := s.Get(ctx, missing)
				require.ErrorIs(t, err, delivery.ErrNotFound, missing)
				// The retries are of events of their own: none is kept
				// without its attempt.
				_, err = s.Event(ctx, "evt_"+missing)
				require.ErrorIs(t, err, delivery.ErrNotFound, "event of %s", missing)
			}
		}
	}
}

// TestGroupCommitRoundTrip stores values that quoting could get wrong
// through shared transactions, which on PostgreSQL carry them as arrays,
// and reads every field back unchanged.
func TestGroupCommitRoundTrip(t *testing.T) {
	hostile := []string{``, `"`, `\`, `\\"`, `{}`, `{"a":1}`, `a,b`, `NULL`, `null`, `'; DROP TABLE x; --`, "tab\tnew\nline", "ünïcödé ✓", `\x00`, ` `}
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			s := newGroupCommitStore(t, serverPool(e.open(t), e), sqlstore.DefaultGroupCommit)
			_, largest := watchBatches(s)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			var want []delivery.Attempt
			var jobs []delivery.Job
			for i, h := range hostile {
				// Every write carries every hostile text, so that any one
				// of them that shares a transaction tests them all.
				h += "|" + strings.Join(hostile, "|")
				a := delivery.Attempt{ID: fmt.Sprintf("rt%02d", i), EventID: fmt.Sprintf("evt%02d%s", i, h), EventType: h, EndpointID: "ep" + h,
					EndpointURL: "https://example.com/?q=" + h, Status: delivery.StatusPending, AttemptNumber: i + 1,
					Trigger: delivery.TriggerFirst, ScheduledAt: now.Add(time.Duration(i) * time.Microsecond)}
				jobs = append(jobs, delivery.Job{Attempt: a, Payload: []byte(h + "\x00\xff"), Lease: delivery.Lease{Owner: "w" + h, Until: now.Add(time.Hour)}})
				a.Status, a.Response, a.ResponseStatusCode, a.Error = delivery.StatusFailure, h+"\x00\xfe", 500+i, "error "+h
				a.ResponseHeaders = http.Header{"X-" + fmt.Sprint(i): {h, h + `"`}}
				a.AttemptedAt, a.Duration, a.ResponseTruncated = now.Add(time.Second), time.Duration(i)*time.Millisecond, i%2 == 0
				want = append(want, a)
			}
			for i, err := range together(len(jobs), func(i int) error { return s.Insert(ctx, jobs[i]) }) {
				require.NoError(t, err, hostile[i])
			}
			for i, err := range together(len(want), func(i int) error {
				next := jobs[i]
				next.Attempt.ID, next.Attempt.AttemptNumber, next.Attempt.Trigger = want[i].ID+"r", want[i].AttemptNumber+1, delivery.TriggerRetry
				return s.Complete(ctx, want[i], &next)
			}) {
				require.NoError(t, err, hostile[i])
			}
			require.Greater(t, largest.Load(), int64(1), "no two writes shared a transaction")
			for i, w := range want {
				got, err := s.Get(ctx, w.ID)
				require.NoError(t, err)
				require.Equal(t, w, got, hostile[i])
				retry, err := s.Get(ctx, w.ID+"r")
				require.NoError(t, err)
				require.Equal(t, w.EndpointURL, retry.EndpointURL, hostile[i])
				ev, err := s.Event(ctx, w.EventID)
				require.NoError(t, err)
				require.Equal(t, jobs[i].Payload, ev.Payload, hostile[i])
			}
		})
	}
}

// watchBatches counts the writes of s that shared a transaction, and keeps
// the size of the largest batch. Call it before s is used.
func watchBatches(s *sqlstore.Store) (batched, largest *atomic.Int64) {
	batched, largest = new(atomic.Int64), new(atomic.Int64)
	sqlstore.OnBatch(s, func(n int) {
		batched.Add(int64(n))
		for m := largest.Load(); int64(n) > m && !largest.CompareAndSwap(m, int64(n)); m = largest.Load() {
		}
	})
	return batched, largest
}
