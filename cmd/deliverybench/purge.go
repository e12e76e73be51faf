package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

// runPurge measures, on PostgreSQL, a worker draining a backlog of backlog
// deliveries alone, then while a purge deletes finals old final attempts
// in batches of delivery.PurgeBatch, then alone again: the drain's rate
// and the longest claim of each run, and the purge's batches.
func runPurge(pgDSN string, finals, backlog int) error {
	if pgDSN == "" {
		return fmt.Errorf("-purge needs -postgres")
	}
	base, stop, err := startReceiver()
	if err != nil {
		return err
	}
	defer stop()
	s, db, done, err := postgresStore(pgDSN, "purge")
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()

	// The old final attempts: stored as the library stores them, then made
	// final and two days old in one statement, which is faster than
	// sending them.
	fmt.Printf("storing %d final attempts... ", finals)
	start := time.Now()
	if err := storageFill(ctx, s, base, 0, finals/storageFanOut); err != nil {
		return err
	}
	attempts, endpoints := s.TablePrefix()+"attempts", s.TablePrefix()+"endpoints"
	for _, stmt := range []string{
		`UPDATE ` + attempts + ` SET status = 0, scheduled_at = scheduled_at - interval '2 days',
			attempted_at = scheduled_at - interval '2 days', response = '\x7b226f6b223a747275657d', response_status_code = 200,
			response_headers = '{"Content-Type":["application/json"]}', duration_ns = 1000000`,
		"UPDATE " + endpoints + " SET ready_at = NULL",
		"VACUUM ANALYZE " + attempts,
	} {
		// #nosec G701 -- the statements name the bench's own tables, whose prefix the bench made.
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	fmt.Printf("%v\n\n", time.Since(start).Round(time.Second))

	fmt.Printf("Worker (16 workers) draining %d deliveries, alone and next to a purge of %d final attempts\n\n", backlog, finals)
	fmt.Printf("%-18s %10s %14s %14s\n", "run", "per sec", "longest claim", "claims")
	next := finals / storageFanOut
	var rates []float64
	for _, run := range []string{"alone", "with purge", "alone again"} {
		if err := storageFill(ctx, s, base, next, backlog/storageFanOut); err != nil {
			return err
		}
		next += backlog / storageFanOut
		ts := &timedStore{Store: s}
		var purge purgeRun
		purgeCtx, stopPurge := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var duringPurge int // attempts the drain completed while the purge ran
		if run == "with purge" {
			wg.Go(func() {
				purge = purgeAll(purgeCtx, s)
				duringPurge = ts.completions()
			})
		}
		start := time.Now()
		err := drainTimed(ctx, ts, base, backlog)
		elapsed := time.Since(start)
		stopPurge()
		wg.Wait()
		if err != nil {
			return err
		}
		rate := float64(backlog) / elapsed.Seconds()
		rates = append(rates, rate)
		fmt.Printf("%-18s %10.0f %14v %14d\n", run, rate, ts.longest.Round(100*time.Microsecond), ts.claims)
		if run == "with purge" {
			fmt.Printf("    the purge deleted %d attempts in %d batches, the longest %v, %v in all; meanwhile the drain ran at %.0f a second\n",
				purge.deleted, purge.batches, purge.longest.Round(100*time.Microsecond), purge.took.Round(time.Millisecond),
				float64(duringPurge)/purge.took.Seconds())
		}
	}
	fmt.Printf("\ndrain with purge / mean of the runs alone: %.2fx\n", rates[1]/((rates[0]+rates[2])/2))
	return nil
}

// purgeRun is what a purge did.
type purgeRun struct {
	deleted, batches int
	longest, took    time.Duration
}

// purgeAll purges the attempts older than a day as a worker does, through
// Dispatcher.Purge with its rests between batches, until none is left or
// ctx ends.
func purgeAll(ctx context.Context, s *sqlstore.Store) purgeRun {
	ps := &timedPurges{Store: s}
	d, err := delivery.NewDispatcher(ps, &delivery.Config{Retention: 24 * time.Hour})
	if err != nil {
		return purgeRun{}
	}
	start := time.Now()
	_, _ = d.Purge(ctx)
	ps.run.took = time.Since(start)
	return ps.run
}

// timedPurges is a sqlstore.Store whose purge batches are counted and
// timed.
type timedPurges struct {
	*sqlstore.Store
	run purgeRun
}

func (t *timedPurges) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	t0 := time.Now()
	n, err := t.Store.Purge(ctx, before, limit)
	t.run.longest = max(t.run.longest, time.Since(t0))
	t.run.deleted += n
	t.run.batches++
	return n, err
}

// timedStore is a sqlstore.Store whose claims are timed, and whose
// completions are counted.
type timedStore struct {
	*sqlstore.Store
	mu        sync.Mutex
	longest   time.Duration
	claims    int
	completed int
}

func (t *timedStore) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	err := t.Store.Complete(ctx, final, next)
	if err == nil {
		t.mu.Lock()
		t.completed++
		t.mu.Unlock()
	}
	return err
}

// completions returns how many attempts were completed.
func (t *timedStore) completions() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.completed
}

func (t *timedStore) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	start := time.Now()
	jobs, err := t.Store.Claim(ctx, req)
	took := time.Since(start)
	t.mu.Lock()
	t.longest = max(t.longest, took)
	t.claims++
	t.mu.Unlock()
	return jobs, err
}

// drainTimed runs a worker of 16 workers on s until it has completed n
// attempts, which the receiver all accepts.
func drainTimed(ctx context.Context, s *timedStore, base string, n int) error {
	client, closeIdle := loopbackClient()
	defer closeIdle()
	return drainUntil(ctx, s, &delivery.Config{
		HTTPClient:     client,
		Workers:        16,
		PerEndpoint:    16,
		PollInterval:   20 * time.Millisecond,
		LookupEndpoint: lookupAt(base),
	}, func() (bool, error) { return s.completions() >= n, nil })
}
