package delivery

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiters keeps a token bucket per rate-limited endpoint, for the
// worker of one Dispatcher.
type rateLimiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// reserve takes a token of ep's bucket at now, made or changed to ep's
// limit, and returns how long the request must wait for it. When that is
// longer than most, it takes nothing and returns the wait and false.
func (r *rateLimiters) reserve(ep Endpoint, now time.Time, most time.Duration) (time.Duration, bool) {
	limit, burst := rate.Limit(ep.RateLimit), max(ep.Burst, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*rate.Limiter{}
	}
	l := r.m[ep.ID]
	switch {
	case l == nil:
		l = rate.NewLimiter(limit, burst)
		r.m[ep.ID] = l
	case l.Limit() != limit || l.Burst() != burst:
		l.SetLimitAt(now, limit)
		l.SetBurstAt(now, burst)
	}
	res := l.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	if wait > most {
		res.CancelAt(now)
		return wait, false
	}
	return wait, true
}

// throttle holds job's request to ep until ep's rate limit lets it go. It
// reports false when the wait would be too long for the lease: then it
// hands the attempt back and pauses the endpoint until its turn, so that
// no worker waits for it.
func (d *Dispatcher) throttle(ctx context.Context, job Job, ep Endpoint) bool {
	if ep.RateLimit <= 0 {
		return true
	}
	now := d.now()
	wait, ok := d.limiters.reserve(ep, now, (d.cfg.Lease-d.cfg.Timeout)/2)
	if !ok {
		if _, err := d.health.Pause(ctx, PauseRequest{EndpointID: ep.ID, Until: now.Add(wait)}); err != nil {
			d.logHealthError(ctx, ep.ID, err)
		}
		if err := d.store.Release(context.WithoutCancel(ctx), d.owner, job.Attempt.ID); err != nil {
			d.logHealthError(ctx, ep.ID, err)
		}
		return false
	}
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		// Stop gave up waiting: the attempt is sent and fails at once,
		// and is recorded as aborted.
	}
	return true
}
