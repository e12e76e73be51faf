package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// EnqueueOpts are the options of Enqueue. A nil *EnqueueOpts means all
// defaults.
type EnqueueOpts struct {
	// ScheduledAt is when the attempt is due. Defaults to now.
	ScheduledAt time.Time
}

// TxStore is a Store that can insert attempts inside the host's own
// database transaction. sqlstore.Store implements it. EnqueueTx needs it.
type TxStore interface {
	Store
	// InsertTx is Insert inside tx: the attempts are stored if and only
	// if tx commits.
	InsertTx(ctx context.Context, tx *sql.Tx, jobs ...Job) error
}

// Enqueue stores a pending first attempt of ev to ep, due at
// opts.ScheduledAt, and returns it at once; a worker (see Start), in this
// process or another, sends it. Of ep, the attempt records ID and URL. The
// secrets and headers are checked now, so that a malformed one is an error
// here rather than a failed attempt later, but never stored: the worker
// signs with what Config.LookupEndpoint returns when it sends. That
// lookup's URL must equal ep.URL byte for byte, or the attempt is
// superseded by one for the URL the lookup returns (the record of each URL
// stays as made). It returns an error wrapping ErrInvalidInput, storing
// nothing, for invalid input, and one wrapping ErrDuplicate, storing
// nothing, when ev was already enqueued or delivered to ep: the event ID is
// an idempotency key, so a host that runs its code again can enqueue again
// safely.
func (d *Dispatcher) Enqueue(ctx context.Context, ev Event, ep Endpoint, opts *EnqueueOpts) (Attempt, error) {
	job, err := d.enqueueJob(ev, ep, opts, traceParentOf(ctx))
	if err != nil {
		return Attempt{}, err
	}
	if err := d.store.Insert(ctx, job); err != nil {
		return Attempt{}, fmt.Errorf("enqueue event %s to endpoint %s: %w", ev.ID, ep.ID, err)
	}
	if !job.Attempt.ScheduledAt.After(d.now()) {
		d.wakeWorker()
	}
	return job.Attempt, nil
}

// EnqueueTx is Enqueue inside the host's transaction tx, a transactional
// outbox: the attempt is stored if and only if tx commits, together with
// the business write that caused it. The Dispatcher's Store must be a
// TxStore on the database of tx. Workers find the attempt within
// Config.PollInterval of the commit. A duplicate (ErrDuplicate, as for
// Enqueue) stores nothing and leaves tx usable, so the host can commit its
// business write all the same; any other store error may leave tx aborted.
func (d *Dispatcher) EnqueueTx(ctx context.Context, tx *sql.Tx, ev Event, ep Endpoint, opts *EnqueueOpts) (Attempt, error) {
	ts, ok := d.store.(TxStore)
	if !ok {
		return Attempt{}, invalid("EnqueueTx needs a Store that implements TxStore, such as sqlstore; %T does not", d.store)
	}
	job, err := d.enqueueJob(ev, ep, opts, traceParentOf(ctx))
	if err != nil {
		return Attempt{}, err
	}
	if err := ts.InsertTx(ctx, tx, job); err != nil {
		return Attempt{}, fmt.Errorf("enqueue event %s to endpoint %s: %w", ev.ID, ep.ID, err)
	}
	return job.Attempt, nil
}

// EnqueueMany is Enqueue of one event to many endpoints (a fan-out), in
// one Store.Insert: one statement on sqlstore for up to 500 endpoints. The
// attempts are stored all or none: when ev was already enqueued to one of
// eps, or eps names an endpoint twice, it returns an error wrapping
// ErrDuplicate and stores nothing. It returns the attempts in the order of
// eps.
func (d *Dispatcher) EnqueueMany(ctx context.Context, ev Event, eps []Endpoint, opts *EnqueueOpts) ([]Attempt, error) {
	jobs, err := d.enqueueJobs(ctx, ev, eps, opts)
	if err != nil || len(jobs) == 0 {
		return nil, err
	}
	if err := d.store.Insert(ctx, jobs...); err != nil {
		return nil, fmt.Errorf("enqueue event %s to %d endpoints: %w", ev.ID, len(eps), err)
	}
	if !jobs[0].Attempt.ScheduledAt.After(d.now()) {
		d.wakeWorker()
	}
	return jobAttempts(jobs), nil
}

// EnqueueManyTx is EnqueueMany inside the host's transaction tx, as
// EnqueueTx is Enqueue: the attempts are stored if and only if tx commits,
// and a duplicate stores none of them and leaves tx usable.
func (d *Dispatcher) EnqueueManyTx(ctx context.Context, tx *sql.Tx, ev Event, eps []Endpoint, opts *EnqueueOpts) ([]Attempt, error) {
	ts, ok := d.store.(TxStore)
	if !ok {
		return nil, invalid("EnqueueManyTx needs a Store that implements TxStore, such as sqlstore; %T does not", d.store)
	}
	jobs, err := d.enqueueJobs(ctx, ev, eps, opts)
	if err != nil || len(jobs) == 0 {
		return nil, err
	}
	if err := ts.InsertTx(ctx, tx, jobs...); err != nil {
		return nil, fmt.Errorf("enqueue event %s to %d endpoints: %w", ev.ID, len(eps), err)
	}
	return jobAttempts(jobs), nil
}

// enqueueJobs validates a fan-out and returns its jobs, one an endpoint.
func (d *Dispatcher) enqueueJobs(ctx context.Context, ev Event, eps []Endpoint, opts *EnqueueOpts) ([]Job, error) {
	jobs := make([]Job, 0, len(eps))
	traceParent := traceParentOf(ctx)
	for _, ep := range eps {
		job, err := d.enqueueJob(ev, ep, opts, traceParent)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

func jobAttempts(jobs []Job) []Attempt {
	attempts := make([]Attempt, len(jobs))
	for i, j := range jobs {
		attempts[i] = j.Attempt
	}
	return attempts
}

// enqueueJob validates an enqueue and returns its job, whose span will be
// a child of the one traceParent names.
func (d *Dispatcher) enqueueJob(ev Event, ep Endpoint, opts *EnqueueOpts, traceParent string) (Job, error) {
	if err := ev.validate(d.cfg.MaxPayloadSize); err != nil {
		return Job{}, err
	}
	if _, err := ep.validate(); err != nil {
		return Job{}, err
	}
	at := d.now()
	if opts != nil && !opts.ScheduledAt.IsZero() {
		at = opts.ScheduledAt.UTC().Truncate(time.Microsecond)
	}
	return d.newJob(ev, ep, 1, TriggerFirst, at, traceParent)
}

// CancelEvent cancels the pending attempts of an event that was deleted,
// and returns how many it canceled. An attempt in flight keeps its real
// outcome, but no retry follows it.
func (d *Dispatcher) CancelEvent(ctx context.Context, eventID string) (int, error) {
	if err := validateID("event ID", eventID, true); err != nil {
		return 0, err
	}
	n, err := d.store.Cancel(ctx, CancelRequest{EventID: eventID, Now: d.now()})
	if err != nil {
		return 0, fmt.Errorf("cancel event %s: %w", eventID, err)
	}
	return n, nil
}
