package delivery

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"
)

// Breaker defaults.
const (
	// DefaultBreakerThreshold is how many consecutive failures open the
	// circuit breaker: ten, as many as Convoy's breaker needs to see
	// before it judges an endpoint, all of them failed. Fewer would pause
	// an endpoint for a short outage that retries ride out anyway.
	DefaultBreakerThreshold = 10
	// DefaultBreakerCooldown is the first pause of an open breaker.
	DefaultBreakerCooldown = 30 * time.Second
	// DefaultBreakerMaxCooldown caps the cool-down, which doubles with
	// each failed probe.
	DefaultBreakerMaxCooldown = 30 * time.Minute
	// DefaultDisableAfter is how long an endpoint may fail without a
	// single success before the library stops sending to it: five days,
	// as Svix does.
	DefaultDisableAfter = 5 * 24 * time.Hour
)

// Breaker says how the Dispatcher treats an endpoint that keeps failing.
// Only failures of requests that were sent count: a failed endpoint lookup
// or an attempt taken over from a dead sender does not. The zero Breaker
// means all defaults.
type Breaker struct {
	// Threshold is how many consecutive failures open the breaker: the
	// endpoint is paused for Cooldown, its due attempts stay pending and
	// unchanged, then one probe attempt goes out. A success closes the
	// breaker; a failure pauses it again for twice as long, up to
	// MaxCooldown. Defaults to DefaultBreakerThreshold; negative turns the
	// breaker off.
	Threshold int
	// Cooldown is the first pause. Defaults to DefaultBreakerCooldown.
	Cooldown time.Duration
	// MaxCooldown caps the pause. Defaults to DefaultBreakerMaxCooldown,
	// or Cooldown if that is longer.
	MaxCooldown time.Duration
	// DisableAfter is how long an endpoint may fail, with no success in
	// between, before the library stops sending to it and calls
	// Config.OnEndpointHealth with the health it recorded, once. Its
	// pending attempts stay pending until Dispatcher.ResumeEndpoint.
	// Defaults to DefaultDisableAfter; negative never disables.
	DisableAfter time.Duration
}

// withDefaults returns b with its unset fields filled in, or an error for
// a negative duration.
func (b Breaker) withDefaults() (Breaker, error) {
	if b.Cooldown < 0 || b.MaxCooldown < 0 {
		return b, invalid("config: Breaker cool-downs must not be negative")
	}
	if b.Threshold == 0 {
		b.Threshold = DefaultBreakerThreshold
	}
	if b.Cooldown == 0 {
		b.Cooldown = DefaultBreakerCooldown
	}
	if b.MaxCooldown == 0 {
		b.MaxCooldown = DefaultBreakerMaxCooldown
	}
	b.MaxCooldown = max(b.MaxCooldown, b.Cooldown)
	if b.DisableAfter == 0 {
		b.DisableAfter = DefaultDisableAfter
	}
	return b, nil
}

// EndpointHealth returns what the Dispatcher's store recorded of the
// endpoint's health (see HealthStore), or, with a store that keeps none,
// what this Dispatcher saw.
func (d *Dispatcher) EndpointHealth(ctx context.Context, endpointID string) (EndpointHealth, error) {
	return d.health.Health(ctx, endpointID)
}

// ResumeEndpoint sends to an endpoint again after the library paused or
// disabled it: it closes the breaker, clears the streak of failures, and
// wakes the worker, which claims the endpoint's pending attempts at once.
// Attempts canceled meanwhile (by CancelEvent, or by the host reporting
// the endpoint gone) stay canceled: send those again with Resend.
func (d *Dispatcher) ResumeEndpoint(ctx context.Context, endpointID string) error {
	if err := validateID("endpoint ID", endpointID, true); err != nil {
		return err
	}
	if err := d.health.Resume(ctx, endpointID); err != nil {
		return err
	}
	h, err := d.health.Health(ctx, endpointID)
	if err != nil {
		return err
	}
	d.healthChanged(ctx, h, slog.LevelInfo, "endpoint resumed")
	d.wakeWorker()
	return nil
}

// healthNews is what the breaker changed, to be told once the outcome it
// judged is recorded.
type healthNews struct {
	h     EndpointHealth
	level slog.Level
	msg   string
}

// sentFailure reports whether final is a failure of a request that was
// sent: the only outcomes the breaker counts.
func sentFailure(final Attempt) bool {
	return final.Status == StatusFailure && !final.AttemptedAt.IsZero()
}

// breakerLocks serialise, within one process, the breaker's judgements of
// one endpoint, so that concurrent failures of an endpoint open its
// breaker once. They are striped by endpoint ID.
type breakerLocks [64]sync.Mutex

var breakerSeed = maphash.MakeSeed()

// lock locks the stripe of endpointID and returns its unlock.
func (l *breakerLocks) lock(endpointID string) func() {
	mu := &l[maphash.String(breakerSeed, endpointID)%uint64(len(l))]
	mu.Lock()
	return mu.Unlock
}

// judgeHealth applies the breaker to final, a failure about to be
// recorded: it opens or reopens the breaker, pauses the endpoint for a
// Retry-After, or disables it. It does so before the failure is recorded,
// so that no claim can take the endpoint's next attempt in between, and
// judges the streak as the failure will leave it. Failures of the endpoint
// being recorded at the same time are not in the streak it reads:
// breakerCaughtUp, after the recording, opens the breaker that they
// together reached. Store errors are logged: the next failure tries again.
func (d *Dispatcher) judgeHealth(ctx context.Context, job Job, final Attempt) []healthNews {
	if !sentFailure(final) {
		return nil
	}
	id, b := final.EndpointID, d.cfg.Breaker
	defer d.breakers.lock(id)()
	h, err := d.health.Health(ctx, id)
	if err != nil {
		d.logHealthError(ctx, id, err)
		return nil
	}
	h = h.Record(final)
	at := final.AttemptedAt
	if b.DisableAfter > 0 && h.DisabledAt.IsZero() && !at.Before(h.FailingSince.Add(b.DisableAfter)) {
		disabled, err := d.health.Disable(ctx, id, at)
		if err != nil {
			d.logHealthError(ctx, id, err)
			return nil
		}
		if !disabled {
			return nil
		}
		h.DisabledAt = at
		return []healthNews{{h, slog.LevelWarn, fmt.Sprintf("endpoint disabled: every attempt failed for %v", at.Sub(h.FailingSince))}}
	}
	var news []healthNews
	if after, ok := retryAfter(final); ok && after > 0 {
		n, ok := d.pause(ctx, h, PauseRequest{Until: at.Add(after)}, slog.LevelInfo, "endpoint paused: it asked to wait with Retry-After")
		if !ok {
			return nil
		}
		h, news = n.h, append(news, n)
	}
	var cooldown time.Duration
	switch {
	case b.Threshold <= 0 || h.Failures < b.Threshold:
		return news
	case job.Probe:
		cooldown = min(max(2*h.Cooldown, b.Cooldown), b.MaxCooldown)
	case h.Cooldown == 0:
		cooldown = b.Cooldown
	default:
		return news // already open: an attempt that was in flight when it opened
	}
	if n, ok := d.openBreaker(ctx, h, at, cooldown); ok {
		news = append(news, n)
	}
	return news
}

// breakerCaughtUp opens the breaker of final's endpoint if the streak, read
// after final was recorded, has reached the threshold while the breaker is
// closed. That happens when failures of the endpoint are recorded at the
// same time, here or in other processes: judgeHealth reads the streak
// without the others, so that none of them sees it reach the threshold,
// but the last one recorded reads it here. Store errors are logged.
func (d *Dispatcher) breakerCaughtUp(ctx context.Context, final Attempt) []healthNews {
	id, b := final.EndpointID, d.cfg.Breaker
	if !sentFailure(final) || b.Threshold <= 0 {
		return nil
	}
	defer d.breakers.lock(id)()
	h, err := d.health.Health(ctx, id)
	if err != nil {
		d.logHealthError(ctx, id, err)
		return nil
	}
	if h.Failures < b.Threshold || h.Cooldown > 0 || !h.DisabledAt.IsZero() {
		return nil
	}
	n, ok := d.openBreaker(ctx, h, final.AttemptedAt, b.Cooldown)
	if !ok {
		return nil
	}
	return []healthNews{n}
}

// openBreaker opens the breaker of h's endpoint from at for cooldown.
func (d *Dispatcher) openBreaker(ctx context.Context, h EndpointHealth, at time.Time, cooldown time.Duration) (healthNews, bool) {
	return d.pause(ctx, h, PauseRequest{Until: at.Add(cooldown), Cooldown: cooldown}, slog.LevelWarn,
		fmt.Sprintf("circuit breaker open after %d consecutive failures: next probe in %v", h.Failures, cooldown))
}

// pause pauses h's endpoint as req says and returns the news of it, or
// logs the store's error and reports false.
func (d *Dispatcher) pause(ctx context.Context, h EndpointHealth, req PauseRequest, level slog.Level, msg string) (healthNews, bool) {
	req.EndpointID = h.EndpointID
	paused, err := d.health.Pause(ctx, req)
	if err != nil {
		d.logHealthError(ctx, h.EndpointID, err)
		return healthNews{}, false
	}
	h.PausedUntil, h.Cooldown = paused.PausedUntil, paused.Cooldown
	return healthNews{h, level, msg}, true
}

// healthRecorded tells what judgeHealth changed, opens a breaker that
// failures recorded together reached (breakerCaughtUp), and tells what
// recording final changed: a probe's success closes the breaker.
func (d *Dispatcher) healthRecorded(ctx context.Context, job Job, final Attempt, news []healthNews) {
	if d.local != nil {
		d.local.record(final)
	}
	news = append(news, d.breakerCaughtUp(ctx, final)...)
	for _, n := range news {
		d.healthChanged(ctx, n.h, n.level, n.msg)
	}
	if final.Status == StatusSuccess && job.Probe {
		if h, err := d.health.Health(ctx, final.EndpointID); err == nil {
			d.healthChanged(ctx, h, slog.LevelInfo, "circuit breaker closed: the probe succeeded")
		}
	}
}

// healthChanged logs a change of an endpoint's state and tells the host.
func (d *Dispatcher) healthChanged(ctx context.Context, h EndpointHealth, level slog.Level, msg string) {
	d.cfg.Logger.LogAttrs(ctx, level, "delivery: "+msg, slog.String("endpoint_id", h.EndpointID),
		slog.String("state", string(h.State(d.now()))), slog.Int("failures", h.Failures),
		slog.Int("last_status_code", h.LastStatusCode), slog.String("last_error", h.LastError))
	if d.cfg.OnEndpointHealth != nil {
		d.cfg.OnEndpointHealth(ctx, h)
	}
}

func (d *Dispatcher) logHealthError(ctx context.Context, endpointID string, err error) {
	d.cfg.Logger.LogAttrs(ctx, slog.LevelError, "delivery: cannot keep endpoint health",
		slog.String("endpoint_id", endpointID), slog.Any("error", err))
}

// localHealth keeps endpoint health in the process, for a store that does
// not (see HealthStore). The worker hands back what the claim gave it of a
// paused or disabled endpoint, and sends one probe at a time of a
// half-open one.
type localHealth struct {
	Store
	mu     sync.Mutex
	health map[string]EndpointHealth
	// probes holds the attempt each half-open endpoint is probing with.
	probes map[string]string
}

func newLocalHealth(s Store) *localHealth {
	return &localHealth{Store: s, health: map[string]EndpointHealth{}, probes: map[string]string{}}
}

// counts returns the endpoints' counts of QueueStats at now.
func (l *localHealth) counts(now time.Time) QueueStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var st QueueStats
	for _, h := range l.health {
		st.CountEndpoint(h, now)
	}
	return st
}

// Health implements HealthStore.
func (l *localHealth) Health(ctx context.Context, endpointID string) (EndpointHealth, error) {
	if err := ctx.Err(); err != nil {
		return EndpointHealth{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.get(endpointID), nil
}

// get returns the endpoint's health. The caller holds l.mu.
func (l *localHealth) get(endpointID string) EndpointHealth {
	h, ok := l.health[endpointID]
	if !ok {
		h.EndpointID = endpointID
	}
	return h
}

// Pause implements HealthStore.
func (l *localHealth) Pause(ctx context.Context, req PauseRequest) (EndpointHealth, error) {
	if err := ctx.Err(); err != nil {
		return EndpointHealth{}, err
	}
	if err := req.Validate(); err != nil {
		return EndpointHealth{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.get(req.EndpointID)
	if req.Until.After(h.PausedUntil) {
		h.PausedUntil = req.Until.UTC()
	}
	if req.Cooldown > 0 {
		h.Cooldown = req.Cooldown
	}
	l.health[req.EndpointID] = h
	return h, nil
}

// Disable implements HealthStore.
func (l *localHealth) Disable(ctx context.Context, endpointID string, at time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.get(endpointID)
	if !h.DisabledAt.IsZero() {
		return false, nil
	}
	h.DisabledAt = at.UTC()
	l.health[endpointID] = h
	return true, nil
}

// Resume implements HealthStore.
func (l *localHealth) Resume(ctx context.Context, endpointID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.get(endpointID)
	h.Failures, h.FailingSince, h.PausedUntil, h.Cooldown, h.DisabledAt = 0, time.Time{}, time.Time{}, 0, time.Time{}
	l.health[endpointID] = h
	return nil
}

// record notes the outcome of a recorded attempt.
func (l *localHealth) record(final Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := final.EndpointID
	l.health[id] = l.get(id).Record(final)
	if l.probes[id] == final.ID {
		delete(l.probes, id)
	}
}

// admit splits claimed jobs into those the worker may take at now and
// those it hands back: the jobs of paused and disabled endpoints, and of a
// half-open endpoint all but its one probe. Reclaimed jobs are all taken.
func (l *localHealth) admit(jobs []Job, now time.Time) (send []Job, back []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, j := range jobs {
		id := j.Attempt.EndpointID
		if j.Reclaimed {
			// Recorded at once, never handed back (see the worker).
			send = append(send, j)
			continue
		}
		switch h := l.get(id); h.State(now) {
		case HealthPaused, HealthDisabled:
			back = append(back, j.Attempt.ID)
			continue
		case HealthProbing:
			if l.probes[id] != "" {
				back = append(back, j.Attempt.ID)
				continue
			}
			l.probes[id] = j.Attempt.ID
			j.Probe = true
		}
		send = append(send, j)
	}
	return send, back
}
