package sqlstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
