package delivery

import (
	"context"
	"time"
)

// Retention defaults.
const (
	// DefaultPurgeInterval is how often the worker purges when
	// Config.Retention is set.
	DefaultPurgeInterval = time.Hour
	// PurgeBatch is how many attempts one Purge call of the worker deletes
	// at most: each batch is a short write of its own, so that a purge of
	// millions of attempts never holds locks long enough to stall claims.
	PurgeBatch = 1000
	// PurgeRest is how many times as long as a batch took a purge waits
	// before its next batch: a purge keeps the database busy for at most a
	// quarter of its time, and leaves the rest to the claims and
	// completions of the workers.
	PurgeRest = 3
)

// PurgeStore is a Store that deletes old final attempts, so that storage
// stays bounded and payloads, responses and headers, which often hold
// personal data, do not live forever. memstore and sqlstore implement it;
// Config.Retention needs it.
type PurgeStore interface {
	Store
	// Purge deletes at most limit final attempts (success, failure or
	// canceled) older than before: scheduled before it and, if sent,
	// sent before it. It never deletes a pending attempt. With its
	// attempts goes what the Store kept only for them: the event's payload
	// once no attempt of the event is left, after which Event returns
	// ErrNotFound. It returns how many attempts it deleted; fewer than
	// limit means that none older than before was left when it looked.
	//
	// Each call is one short write. Concurrent purges, from any process
	// sharing the Store, are safe: each attempt is deleted once, and a
	// purge does not wait on a claim, nor a claim on a purge, longer than
	// one batch's write. It returns an error wrapping ErrInvalidInput when
	// limit is not positive or before is zero.
	Purge(ctx context.Context, before time.Time, limit int) (int, error)
}

// purgeLoop purges attempts older than the retention every PurgeInterval,
// the first time at once, until ctx ends.
func (d *Dispatcher) purgeLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if _, err := d.Purge(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Logger.ErrorContext(ctx, "delivery: purge failed; the next one retries", "error", err)
		}
		timer.Reset(d.cfg.PurgeInterval)
	}
}

// Purge deletes the final attempts older than Config.Retention now, in
// batches of PurgeBatch, and returns how many it deleted. After each full
// batch it waits PurgeRest times as long as the batch took, so that a
// large purge shares the database with the workers rather than competing
// with them: a million attempts take about four times as long to purge as
// they would at full speed. The worker calls it every PurgeInterval; a
// host may call it too, from any process, at any time. It returns an error
// wrapping ErrInvalidInput when Retention is not set, and the context's
// error, with the count so far, when ctx ends.
func (d *Dispatcher) Purge(ctx context.Context) (int, error) {
	if d.purger == nil {
		return 0, invalid("Purge needs Config.Retention and a PurgeStore")
	}
	before := d.now().Add(-d.cfg.Retention)
	total := 0
	rest := time.NewTimer(0)
	defer rest.Stop()
	for {
		start := time.Now()
		n, err := d.purger.Purge(ctx, before, PurgeBatch)
		total += n
		if err != nil {
			return total, err
		}
		if n < PurgeBatch {
			if total > 0 {
				d.cfg.Logger.InfoContext(ctx, "delivery: purged old attempts", "count", total, "before", before)
			}
			return total, nil
		}
		rest.Reset(PurgeRest * time.Since(start))
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-rest.C:
		}
	}
}
