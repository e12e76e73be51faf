package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// fakeCommitter returns a committer whose alone writes wait for release,
// and whose batches are recorded, failing when fail says so.
func fakeCommitter(release <-chan struct{}, fail func([]*write) error) (*committer, func() [][]*write) {
	var mu sync.Mutex
	var batches [][]*write
	c := &committer{max: 3, flushers: 1,
		alone: func(ctx context.Context, w *write) error {
			<-release
			return errors.New("alone " + w.id)
		},
		run: func(ctx context.Context, batch []*write) error {
			mu.Lock()
			batches = append(batches, batch)
			mu.Unlock()
			return fail(batch)
		},
	}
	return c, func() [][]*write {
		mu.Lock()
		defer mu.Unlock()
		return batches
	}
}

// waitQueued waits until c holds n queued writes.
func waitQueued(t *testing.T, c *committer, n int) {
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue) == n
	}, time.Minute, time.Millisecond)
}

func TestCommitterQueuesBehindARunningWrite(t *testing.T) {
	release := make(chan struct{})
	c, batches := fakeCommitter(release, func(b []*write) error {
		b[0].err = errors.New("own outcome")
		return nil
	})
	ctx := context.Background()
	errs := make(chan error, 10)
	go func() { errs <- c.do(ctx, &write{id: "first"}) }()
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.running == 1 }, time.Minute, time.Millisecond)

	// Queued behind the first: one is canceled while it waits, and is
	// dropped without running; four others make a batch of three and one
	// of one, and get their own outcomes.
	canceled, cancel := context.WithCancel(ctx)
	dropped := make(chan error, 1)
	go func() { dropped <- c.do(canceled, &write{id: "canceled"}) }()
	waitQueued(t, c, 1)
	for _, id := range []string{"a", "b", "c", "d"} {
		go func() { errs <- c.do(ctx, &write{id: id}) }()
	}
	waitQueued(t, c, 5)
	cancel()
	require.ErrorIs(t, <-dropped, context.Canceled)
	waitQueued(t, c, 4)

	close(release)
	var got []string
	for range 5 {
		if err := <-errs; err != nil {
			got = append(got, err.Error())
		}
	}
	require.ElementsMatch(t, []string{"alone first", "own outcome", "own outcome"}, got)
	var sizes []int
	for _, b := range batches() {
		sizes = append(sizes, len(b))
		for _, w := range b {
			require.NotEqual(t, "canceled", w.id)
		}
	}
	require.Equal(t, []int{3, 1}, sizes)
}

func TestCommitterRunsAFailedBatchAlone(t *testing.T) {
	release := make(chan struct{})
	c, batches := fakeCommitter(release, func([]*write) error { return errors.New("batch failed") })
	ctx := context.Background()
	errs := make(chan error, 10)
	go func() { errs <- c.do(ctx, &write{id: "first"}) }()
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.running == 1 }, time.Minute, time.Millisecond)
	for _, id := range []string{"a", "b"} {
		go func() { errs <- c.do(ctx, &write{id: id}) }()
	}
	waitQueued(t, c, 2)
	close(release)
	var got []string
	for range 3 {
		got = append(got, (<-errs).Error())
	}
	// Each write of the failed batch ran again alone, with its own result.
	require.ElementsMatch(t, []string{"alone first", "alone a", "alone b"}, got)
	require.Len(t, batches(), 1)
}

func TestCommitterGroupCommitOneRunsEveryWriteAlone(t *testing.T) {
	release := make(chan struct{})
	close(release)
	c, batches := fakeCommitter(release, func([]*write) error { return nil })
	c.max = 1
	require.EqualError(t, c.do(context.Background(), &write{id: "x"}), "alone x")
	require.Empty(t, batches())
}

// sqliteClaimStore returns a migrated Store on a new SQLite file, the
// time its attempts are due, and a maker of pending attempts of ep_1 due
// then.
func sqliteClaimStore(t *testing.T) (*Store, time.Time, func(id string) delivery.Attempt) {
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "claim.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := New(db, nil)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	now := time.Now().UTC().Truncate(time.Microsecond)
	return s, now, func(id string) delivery.Attempt {
		return delivery.Attempt{ID: id, EventID: "evt_" + id, EndpointID: "ep_1", EndpointURL: "https://example.com/",
			Status: delivery.StatusPending, AttemptNumber: 1, Trigger: delivery.TriggerFirst, ScheduledAt: now}
	}
}

// holdCommits makes c act as if a transaction ran, so that writes queue
// up, until the returned func ends it and starts a flusher.
func holdCommits(c *committer) (release func()) {
	c.mu.Lock()
	c.running++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.running--
		c.startFlusher()
		c.mu.Unlock()
	}
}

// TestSQLiteClaimRunsInTheGroupCommit queues a claim, then a completion
// that frees the endpoint's one place, behind a running transaction on
// SQLite: both run in the next transaction, the claim after the
// completion, so that it takes the attempt the completion made room for.
func TestSQLiteClaimRunsInTheGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, now, attempt := sqliteClaimStore(t)
	sent, due := attempt("01SENT"), attempt("02DUE")
	require.NoError(t, s.Insert(ctx,
		delivery.Job{Attempt: sent, Lease: delivery.Lease{Owner: "w0", Until: now.Add(time.Hour)}},
		delivery.Job{Attempt: due}))
	var batches [][2]int
	s.commits.onBatch = func(b []*write) {
		claims := 0
		for _, w := range b {
			if w.claim != nil {
				claims++
			}
		}
		batches = append(batches, [2]int{len(b), claims})
	}

	release := holdCommits(s.commits)
	claimed := make(chan []delivery.Job, 1)
	go func() {
		jobs, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "w1", Now: now, Until: now.Add(time.Minute), Limit: 10, PerEndpoint: 1})
		if err != nil {
			jobs = nil
		}
		claimed <- jobs
	}()
	waitQueued(t, s.commits, 1)
	completed := make(chan error, 1)
	final := sent
	final.Status, final.AttemptedAt, final.ResponseStatusCode = delivery.StatusSuccess, now, 204
	go func() { completed <- s.Complete(ctx, final, nil) }()
	waitQueued(t, s.commits, 2)
	release()

	require.NoError(t, <-completed)
	jobs := <-claimed
	require.Len(t, jobs, 1, "the claim ran after the completion that freed the endpoint's place")
	require.Equal(t, due.ID, jobs[0].Attempt.ID)
	require.Equal(t, [][2]int{{2, 1}}, batches, "one transaction held the claim and the completion")
}

// TestSQLiteClaimOfAGoneCaller queues a claim behind a running transaction
// on SQLite and cancels its context once the next transaction holds it:
// it returns the context's error and leases nothing, so that the next
// claim takes the attempt as never sent.
func TestSQLiteClaimOfAGoneCaller(t *testing.T) {
	ctx := context.Background()
	s, now, attempt := sqliteClaimStore(t)
	require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: attempt("01DUE")}))
	req := delivery.ClaimRequest{Owner: "w1", Now: now, Until: now.Add(time.Minute), Limit: 10, PerEndpoint: 4}

	release := holdCommits(s.commits)
	gone, cancel := context.WithCancel(ctx)
	claimed := make(chan error, 1)
	go func() {
		_, err := s.Claim(gone, req)
		claimed <- err
	}()
	waitQueued(t, s.commits, 1)
	s.commits.onBatch = func([]*write) { cancel() }
	release()
	require.ErrorIs(t, <-claimed, context.Canceled)

	req.Owner = "w2"
	jobs, err := s.Claim(ctx, req)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "the gone caller's claim leased nothing")
	require.False(t, jobs[0].Reclaimed)
}
