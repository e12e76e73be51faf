package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// noRetry is the policy of manual attempts: they are one request each.
func noRetry(Attempt, error) (time.Duration, error) {
	return 0, fmt.Errorf("%w: a manual attempt is not retried", ErrNotRetryable)
}

// Resend sends an event that was delivered before to an endpoint again,
// now, as Deliver does, and records it as a new attempt with trigger
// "manual" and the next attempt number of the event at that endpoint. The
// payload comes from the store, the endpoint from Config.LookupEndpoint. A
// failed resend is not retried: Config.OnGiveUp is called for it with an
// error wrapping ErrNotRetryable. It returns what Deliver returns, or an
// error wrapping ErrNotFound when the store holds no attempt of the event.
func (d *Dispatcher) Resend(ctx context.Context, eventID, endpointID string) (Attempt, error) {
	if d.cfg.LookupEndpoint == nil {
		return Attempt{}, invalid("Resend needs Config.LookupEndpoint")
	}
	ev, err := d.store.Event(ctx, eventID)
	if err != nil {
		return Attempt{}, fmt.Errorf("resend event %s: %w", eventID, err)
	}
	ep, err := d.cfg.LookupEndpoint(ctx, endpointID)
	if err != nil {
		return Attempt{}, fmt.Errorf("resend event %s: endpoint %s: %w", eventID, endpointID, err)
	}
	ep.ID = endpointID
	keys, err := ep.validate()
	if err != nil {
		return Attempt{}, err
	}
	var job Job
	err = d.insertNext(ctx, eventID, endpointID, func(last Attempt) (Job, bool, error) {
		now := d.now()
		j, err := d.newJob(ev, ep, last.AttemptNumber+1, TriggerManual, now, traceParentOf(ctx))
		j.Lease = Lease{Owner: d.owner, Until: now.Add(d.cfg.Lease)}
		job = j
		return j, true, err
	})
	if err != nil {
		return Attempt{}, fmt.Errorf("store attempt of event %s to endpoint %s: %w", eventID, endpointID, err)
	}
	final, sendErr := d.send(ctx, job, ep, keys)
	return d.settle(ctx, job, final, sendErr, noRetry)
}

// numberTries bounds how often insertNext tries again when another writer
// took the attempt number it meant to use: each round, one of the
// concurrent writers of an event and endpoint wins.
const numberTries = 16

// insertNext stores the job that next makes from the last attempt of an
// event to an endpoint (the zero Attempt when there is none), so that it
// gets the next attempt number, unless next declines. When a concurrent
// writer (a retry, another Resend) takes that number first, it looks
// again and retries, a few times.
func (d *Dispatcher) insertNext(ctx context.Context, eventID, endpointID string, next func(last Attempt) (Job, bool, error)) error {
	for try := 1; ; try++ {
		last, err := d.lastAttempt(ctx, eventID, endpointID)
		if err != nil {
			return err
		}
		job, ok, err := next(last)
		if err != nil || !ok {
			return err
		}
		err = d.store.Insert(ctx, job)
		if err == nil || !errors.Is(err, ErrDuplicate) || try == numberTries {
			return err
		}
	}
}

// lastAttempt returns the attempt of greatest AttemptNumber of an event to
// an endpoint, or the zero Attempt when there is none.
func (d *Dispatcher) lastAttempt(ctx context.Context, eventID, endpointID string) (Attempt, error) {
	var last Attempt
	q := ListQuery{EventID: eventID, EndpointID: endpointID, Limit: MaxListLimit}
	for {
		page, err := d.store.List(ctx, q)
		if err != nil {
			return Attempt{}, fmt.Errorf("list attempts of event %s to endpoint %s: %w", eventID, endpointID, err)
		}
		for _, a := range page.Attempts {
			if a.AttemptNumber > last.AttemptNumber {
				last = a
			}
		}
		if page.Next == "" {
			return last, nil
		}
		q.After = page.Next
	}
}

// RedeliverFailed enqueues again, for one endpoint, every event whose last
// attempt there failed at or after since: after an outage, once the
// receiver is fixed. Each gets a new pending attempt, due now, with trigger
// "manual" and the next attempt number; the worker sends it, and retries it
// by the policy. Events with a pending or successful last attempt are left
// alone. It returns how many it enqueued.
func (d *Dispatcher) RedeliverFailed(ctx context.Context, endpointID string, since time.Time) (int, error) {
	if d.cfg.LookupEndpoint == nil {
		return 0, invalid("RedeliverFailed needs Config.LookupEndpoint")
	}
	ep, err := d.cfg.LookupEndpoint(ctx, endpointID)
	if err != nil {
		return 0, fmt.Errorf("redeliver failed attempts of endpoint %s: %w", endpointID, err)
	}
	ep.ID = endpointID
	if _, err := ep.validate(); err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	n := 0
	q := ListQuery{EndpointID: endpointID, Statuses: []Status{StatusFailure}, AttemptedFrom: since, Limit: MaxListLimit}
	for {
		page, err := d.store.List(ctx, q)
		if err != nil {
			return n, fmt.Errorf("redeliver failed attempts of endpoint %s: %w", endpointID, err)
		}
		for _, a := range page.Attempts {
			if seen[a.EventID] {
				continue
			}
			seen[a.EventID] = true
			ok, err := d.redeliverEvent(ctx, a.EventID, ep)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	if n > 0 {
		d.wakeWorker()
	}
	return n, nil
}

// redeliverEvent enqueues a manual attempt of an event to ep if its last
// attempt there failed, and reports whether it did.
func (d *Dispatcher) redeliverEvent(ctx context.Context, eventID string, ep Endpoint) (bool, error) {
	enqueued := false
	err := d.insertNext(ctx, eventID, ep.ID, func(last Attempt) (Job, bool, error) {
		if last.Status != StatusFailure {
			return Job{}, false, nil
		}
		ev, err := d.store.Event(ctx, eventID)
		if err != nil {
			return Job{}, false, err
		}
		job, err := d.newJob(ev, ep, last.AttemptNumber+1, TriggerManual, d.now(), traceParentOf(ctx))
		enqueued = err == nil
		return job, enqueued, err
	})
	if err != nil {
		return false, fmt.Errorf("redeliver event %s: %w", eventID, err)
	}
	return enqueued, nil
}
