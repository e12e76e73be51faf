package delivery

import (
	"context"
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
// payload comes from the store, the endpoint from Config.Endpoints. A
// failed resend is not retried: Config.OnExhausted is called for it with an
// error wrapping ErrNotRetryable. It returns what Deliver returns, or an
// error wrapping ErrNotFound when the store holds no attempt of the event.
func (d *Dispatcher) Resend(ctx context.Context, eventID, endpointID string) (Attempt, error) {
	if d.cfg.Endpoints == nil {
		return Attempt{}, invalid("Resend needs Config.Endpoints to look endpoints up")
	}
	ev, err := d.store.Event(ctx, eventID)
	if err != nil {
		return Attempt{}, fmt.Errorf("delivery: resend event %s: %w", eventID, err)
	}
	ep, err := d.cfg.Endpoints(ctx, endpointID)
	if err != nil {
		return Attempt{}, fmt.Errorf("delivery: resend event %s: endpoint %s: %w", eventID, endpointID, err)
	}
	ep.ID = endpointID
	keys, err := ep.validate()
	if err != nil {
		return Attempt{}, err
	}
	last, err := d.lastAttempt(ctx, eventID, endpointID)
	if err != nil {
		return Attempt{}, err
	}
	now := d.now()
	job, err := d.newJob(ev.ID, ev.Type, ev.Payload, ep, last.AttemptNumber+1, TriggerManual, now)
	if err != nil {
		return Attempt{}, err
	}
	job.Lease = Lease{Owner: d.owner, Until: now.Add(d.cfg.Lease)}
	if err := d.store.Insert(ctx, job); err != nil {
		return Attempt{}, fmt.Errorf("delivery: store attempt of event %s to endpoint %s: %w", eventID, endpointID, err)
	}
	final, sendErr := d.send(ctx, job, ep, keys)
	return d.settle(ctx, job, final, sendErr, noRetry)
}

// lastAttempt returns the attempt of greatest ID of an event to an
// endpoint, or the zero Attempt when there is none.
func (d *Dispatcher) lastAttempt(ctx context.Context, eventID, endpointID string) (Attempt, error) {
	var last Attempt
	q := ListQuery{EventID: eventID, EndpointID: endpointID, Limit: MaxListLimit}
	for {
		page, err := d.store.List(ctx, q)
		if err != nil {
			return Attempt{}, fmt.Errorf("delivery: list attempts of event %s to endpoint %s: %w", eventID, endpointID, err)
		}
		if n := len(page.Attempts); n > 0 {
			last = page.Attempts[n-1]
		}
		if page.Next == "" {
			return last, nil
		}
		q.After = page.Next
	}
}

// Recover enqueues again, for one endpoint, every event whose last attempt
// there failed at or after since: after an outage, once the receiver is
// fixed. Each gets a new pending attempt, due now, with trigger "manual" and
// the next attempt number; the worker sends it, and retries it by the
// policy. Events with a pending or successful last attempt are left alone.
// It returns how many it enqueued.
func (d *Dispatcher) Recover(ctx context.Context, endpointID string, since time.Time) (int, error) {
	if d.cfg.Endpoints == nil {
		return 0, invalid("Recover needs Config.Endpoints to look endpoints up")
	}
	ep, err := d.cfg.Endpoints(ctx, endpointID)
	if err != nil {
		return 0, fmt.Errorf("delivery: recover endpoint %s: %w", endpointID, err)
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
			return n, fmt.Errorf("delivery: recover endpoint %s: %w", endpointID, err)
		}
		for _, a := range page.Attempts {
			if seen[a.EventID] {
				continue
			}
			seen[a.EventID] = true
			ok, err := d.recoverEvent(ctx, a.EventID, ep)
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

// recoverEvent enqueues a manual attempt of an event to ep if its last
// attempt there failed, and reports whether it did.
func (d *Dispatcher) recoverEvent(ctx context.Context, eventID string, ep Endpoint) (bool, error) {
	last, err := d.lastAttempt(ctx, eventID, ep.ID)
	if err != nil || last.Status != StatusFailure {
		return false, err
	}
	ev, err := d.store.Event(ctx, eventID)
	if err != nil {
		return false, fmt.Errorf("delivery: recover event %s: %w", eventID, err)
	}
	job, err := d.newJob(ev.ID, ev.Type, ev.Payload, ep, last.AttemptNumber+1, TriggerManual, d.now())
	if err != nil {
		return false, err
	}
	if err := d.store.Insert(ctx, job); err != nil {
		return false, fmt.Errorf("delivery: recover event %s: %w", eventID, err)
	}
	return true, nil
}
