package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// errLeaseExpired is the transport error of an attempt whose sender
// stopped, presumably by dying, before it recorded an outcome.
var errLeaseExpired = errors.New("lease expired: the sender stopped before recording an outcome; the request may have been sent")

// workerRun is one Start of the worker, until Stop.
type workerRun struct {
	stopClaiming context.CancelFunc // ends the claim loop
	abortSends   context.CancelFunc // aborts requests in flight
	loopDone     chan struct{}
	inflight     sync.WaitGroup
	// purgeDone is closed when the purge loop ends; nil without one.
	purgeDone chan struct{}

	// gauges is the registration of the queue gauges' callback.
	gauges metric.Registration

	mu          sync.Mutex
	busy        int            // attempts being sent
	perEndpoint map[string]int // attempts being sent, per endpoint
	held        int            // attempts claimed and not yet recorded
}

// Start starts the worker: a goroutine that claims due attempts from the
// store in batches, under a lease, and sends them, at most Config.Workers at
// once and Config.PerEndpoint to one endpoint. It returns once the worker
// runs. ctx only carries values to the worker: its cancellation does not
// stop it, because a canceled context would abort the requests in flight
// and leave their outcomes to be recorded as failures; Stop stops claiming
// first and lets them finish, within its own context's deadline. Call Stop
// when the host shuts down. With Config.Retention set, the worker also
// purges old attempts, at once and every Config.PurgeInterval (see
// Dispatcher.Purge); Stop ends that too. Start requires
// Config.LookupEndpoint. Calling it on a running Dispatcher does nothing.
//
// Any number of Dispatchers in any number of processes can run workers on
// one PostgreSQL or MySQL database: no attempt is claimed twice while its
// lease holds. An attempt whose holder died is taken over when its lease
// ends: it is recorded as failed ("lease expired") and retried by the
// policy. SQLite serves the workers of one process.
func (d *Dispatcher) Start(ctx context.Context) error {
	if d.cfg.LookupEndpoint == nil {
		return invalid("Start needs Config.LookupEndpoint")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run != nil {
		return nil
	}
	gauges, err := d.tel.watchQueue(d.store, d.local, d.now)
	if err != nil {
		return fmt.Errorf("register queue gauges: %w", err)
	}
	base := context.WithoutCancel(ctx)
	loopCtx, stopClaiming := context.WithCancel(base)
	sendCtx, abortSends := context.WithCancel(base)
	r := &workerRun{
		gauges:       gauges,
		stopClaiming: stopClaiming,
		abortSends:   abortSends,
		loopDone:     make(chan struct{}),
		perEndpoint:  make(map[string]int),
	}
	d.run = r
	go d.claimLoop(loopCtx, sendCtx, r)
	if d.purger != nil {
		r.purgeDone = make(chan struct{})
		go d.purgeLoop(loopCtx, r.purgeDone)
	}
	return nil
}

// Stop stops the worker gracefully: it claims nothing more, and waits for
// the attempts in flight to finish and be recorded. If ctx ends first, it
// aborts them (each is recorded as failed, and retried by the policy) and
// returns ctx.Err() once they are recorded. It also closes the idle
// connections of the Dispatcher's own transport, if it has one. Stop before
// Start, or a second Stop, stops nothing. The Dispatcher can be started
// again.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.mu.Lock()
	r := d.run
	d.run = nil
	d.mu.Unlock()
	if d.transport != nil {
		defer d.transport.CloseIdleConnections()
	}
	if r == nil {
		return nil
	}
	// The error is the SDK's, for a callback it no longer holds.
	_ = r.gauges.Unregister()
	r.stopClaiming()
	<-r.loopDone
	if r.purgeDone != nil {
		<-r.purgeDone
	}
	done := make(chan struct{})
	go func() {
		r.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		r.abortSends()
		return nil
	case <-ctx.Done():
		r.abortSends()
		<-done
		return ctx.Err()
	}
}

// Wake tells the worker that work may be due, so that it claims now
// instead of at its next poll. Enqueue does it for the worker of its own
// Dispatcher; a host calls it when it learns of work from elsewhere, such
// as a PostgreSQL notification (see sqlstore/pgnotify). It never blocks,
// and does nothing when the worker is not running. It is safe for
// concurrent use.
func (d *Dispatcher) Wake() { d.wakeWorker() }

// wakeWorker tells an idle worker that work may be due.
func (d *Dispatcher) wakeWorker() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// claimLoop claims and dispatches due attempts until loopCtx ends.
func (d *Dispatcher) claimLoop(loopCtx, sendCtx context.Context, r *workerRun) {
	defer close(r.loopDone)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		full := d.claimOnce(loopCtx, sendCtx, r)
		if loopCtx.Err() != nil {
			return
		}
		if full {
			continue // a full batch: more is likely due
		}
		timer.Reset(d.cfg.PollInterval)
		select {
		case <-loopCtx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// heldPerWorker bounds the attempts the worker holds, being sent or being
// recorded, at this many a worker: a worker is free once its request has
// ended, while the outcome is still being recorded, and records slower
// than requests must hold back claims.
const heldPerWorker = 2

// claimOnce claims what the free workers can take, starts sending it, and
// reports whether it filled every free worker.
func (d *Dispatcher) claimOnce(loopCtx, sendCtx context.Context, r *workerRun) bool {
	r.mu.Lock()
	free := min(d.cfg.Workers-r.busy, heldPerWorker*d.cfg.Workers-r.held)
	busy := r.busy > 0
	r.mu.Unlock()
	// Claim in batches: while most workers are busy, wait for more to free
	// up rather than pay a claim per finished attempt.
	if free <= 0 || free < d.cfg.Workers/4 && busy {
		return false
	}
	// The store shares the claim out between endpoints, each up to
	// PerEndpoint in flight across every process.
	now := d.now()
	jobs, err := d.store.Claim(loopCtx, ClaimRequest{Owner: d.owner, Now: now, Until: now.Add(d.cfg.Lease), Limit: free, PerEndpoint: d.cfg.PerEndpoint})
	if err != nil {
		if loopCtx.Err() == nil {
			d.cfg.Logger.LogAttrs(loopCtx, slog.LevelError, "delivery: claim failed", slog.Any("error", err))
		}
		return false
	}
	d.tel.claimed(loopCtx, len(jobs))
	var excess []string
	if d.local != nil {
		jobs, excess = d.local.admit(jobs, now)
	}
	started := 0
	for _, j := range jobs {
		if j.Reclaimed {
			// Its last holder may have sent it: record that before anything
			// else can happen to it. Recording sends nothing, so it takes
			// no worker and no place at the endpoint, and it is never
			// released, which would let the next claim send the attempt
			// before the earlier request is on record.
			r.hold()
			r.inflight.Add(1)
			go func() {
				defer r.inflight.Done()
				defer d.dropHeld(r)
				d.recordTakeover(sendCtx, j)
			}()
			continue
		}
		if !r.acquire(j.Attempt.EndpointID, d.cfg.Workers, d.cfg.PerEndpoint) {
			excess = append(excess, j.Attempt.ID)
			continue
		}
		started++
		r.inflight.Add(1)
		go func() {
			defer r.inflight.Done()
			defer d.dropHeld(r)
			sent := sync.OnceFunc(func() {
				r.release(j.Attempt.EndpointID)
				d.wakeWorker()
			})
			defer sent()
			d.process(sendCtx, j, sent)
		}()
	}
	if len(excess) > 0 {
		if err := d.store.Release(context.WithoutCancel(loopCtx), d.owner, excess...); err != nil {
			d.cfg.Logger.LogAttrs(loopCtx, slog.LevelError, "delivery: release failed", slog.Any("error", err))
		}
	}
	return started == free && len(excess) == 0
}

// acquire takes a worker for an attempt to endpoint, if both limits allow.
func (r *workerRun) acquire(endpoint string, workers, perEndpoint int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy >= workers || r.held >= heldPerWorker*workers || r.perEndpoint[endpoint] >= perEndpoint {
		return false
	}
	r.busy++
	r.held++
	r.perEndpoint[endpoint]++
	return true
}

// hold counts a reclaimed attempt, which takes no worker, as held.
func (r *workerRun) hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held++
}

// dropHeld counts a held attempt as recorded, and wakes the claim loop,
// which may have been waiting for room.
func (d *Dispatcher) dropHeld(r *workerRun) {
	r.mu.Lock()
	r.held--
	r.mu.Unlock()
	d.wakeWorker()
}

// release frees the worker and the endpoint's place that acquire took,
// once the attempt's request has ended.
func (r *workerRun) release(endpoint string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.busy--
	if r.perEndpoint[endpoint]--; r.perEndpoint[endpoint] == 0 {
		delete(r.perEndpoint, endpoint)
	}
}

// process sends one claimed attempt and records it, calling sent once no
// request for it is in flight any more. Errors are logged: nothing is
// lost, since an unrecorded attempt stays pending and is taken over when
// its lease ends.
func (d *Dispatcher) process(ctx context.Context, job Job, sent func()) {
	a := job.Attempt
	ep, err := d.cfg.LookupEndpoint(ctx, a.EndpointID)
	switch {
	case errors.Is(err, ErrEndpointGone):
		d.cancelGone(ctx, job, err)
		return
	case err != nil:
		err = fmt.Errorf("endpoint lookup: %w", err)
		_, _ = d.settle(ctx, job, failed(a, err), err, d.cfg.Retry)
		return
	}
	ep.ID = a.EndpointID
	keys, err := ep.validate()
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrNotRetryable, err)
		_, _ = d.settle(ctx, job, failed(a, err), err, d.cfg.Retry)
		return
	}
	if ep.URL != a.EndpointURL {
		d.supersede(ctx, job, ep)
		return
	}
	if !d.throttle(ctx, job, ep) {
		return
	}
	final, sendErr := d.send(ctx, job, ep, keys)
	sent()
	_, _ = d.settle(ctx, job, final, sendErr, d.cfg.Retry)
}

// recordTakeover records a reclaimed attempt as failed, since its last
// holder may have sent it and died before recording the outcome, and
// schedules its retry by the policy.
func (d *Dispatcher) recordTakeover(ctx context.Context, job Job) {
	_, _ = d.settle(ctx, job, failed(job.Attempt, errLeaseExpired), errLeaseExpired, d.cfg.Retry)
}

// cancelGone cancels job's attempt, and every pending attempt of its
// endpoint, which the host reported gone or disabled.
func (d *Dispatcher) cancelGone(ctx context.Context, job Job, reason error) {
	final := job.Attempt
	final.Status, final.Error = StatusCanceled, errorText(reason)
	recordCtx, cancel := d.recordContext(ctx)
	defer cancel()
	err := d.store.Complete(recordCtx, final, nil)
	if err == nil {
		d.tel.recordAttempt(ctx, final, nil)
		_, err = d.store.Cancel(recordCtx, CancelRequest{EndpointID: final.EndpointID, Now: d.now()})
	}
	if err != nil {
		d.cfg.Logger.LogAttrs(ctx, slog.LevelError, "delivery: cannot cancel attempts of a gone endpoint",
			slog.String("endpoint_id", final.EndpointID), slog.Any("error", err))
	}
}

// supersede replaces job's attempt, made for an endpoint URL that has
// changed since, by one for the new URL, due at once, with the next
// attempt number and the same trigger. The old record keeps its URL and is
// canceled, naming its successor.
func (d *Dispatcher) supersede(ctx context.Context, job Job, ep Endpoint) {
	a := job.Attempt
	next, err := d.newJob(job.event(), ep, a.AttemptNumber+1, a.Trigger, d.now(), job.TraceParent)
	if err == nil {
		final := a
		final.Status = StatusCanceled
		final.Error = "endpoint URL changed; superseded by attempt " + next.Attempt.ID
		recordCtx, cancel := d.recordContext(ctx)
		defer cancel()
		if err = d.store.Complete(recordCtx, final, &next); err == nil {
			d.tel.recordAttempt(ctx, final, nil)
		}
	}
	if err != nil {
		d.cfg.Logger.LogAttrs(ctx, slog.LevelError, "delivery: cannot supersede attempt",
			slog.String("attempt_id", a.ID), slog.Any("error", err))
		return
	}
	d.wakeWorker()
}
