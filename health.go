package delivery

import (
	"context"
	"time"
)

// EndpointHealth is what the library knows of one endpoint's recent
// outcomes, and whether it is sending to it. A HealthStore keeps it for
// every process; the Dispatcher reads and changes it as Config.Breaker
// says, and hosts read it with Dispatcher.EndpointHealth.
type EndpointHealth struct {
	// EndpointID names the endpoint.
	EndpointID string
	// Failures is the streak of consecutive failed attempts: 0 after a
	// success. Canceled attempts do not count.
	Failures int
	// FailingSince is when the streak began: the AttemptedAt of its first
	// failure, or zero when Failures is 0.
	FailingSince time.Time
	// LastStatusCode and LastError are those of the latest completed
	// attempt that succeeded or failed.
	LastStatusCode int
	LastError      string
	// PausedUntil, when after now, pauses the endpoint: none of its
	// attempts is claimed before then. The circuit breaker and a
	// Retry-After answer set it.
	PausedUntil time.Time
	// Cooldown is the circuit breaker's current cool-down: 0 while the
	// breaker is closed. While it is open and PausedUntil has passed, the
	// endpoint is half-open: one probe attempt at a time goes out.
	Cooldown time.Duration
	// DisabledAt, when not zero, is when the library stopped sending to
	// the endpoint after Breaker.DisableAfter of nothing but failures.
	// Only ResumeEndpoint sends again.
	DisabledAt time.Time
}

// HealthState names the state of an endpoint, as EndpointHealth.State
// reports it.
type HealthState string

// The states of an endpoint.
const (
	// HealthOK: the latest attempt succeeded, or none was recorded.
	HealthOK HealthState = "ok"
	// HealthFailing: the latest attempts failed, and it is still sent to.
	HealthFailing HealthState = "failing"
	// HealthPaused: nothing is sent until PausedUntil.
	HealthPaused HealthState = "paused"
	// HealthProbing: the breaker is half-open; one attempt at a time goes
	// out, and a success closes it.
	HealthProbing HealthState = "probing"
	// HealthDisabled: nothing is sent until the host resumes it.
	HealthDisabled HealthState = "disabled"
)

// State returns h's state at now.
func (h EndpointHealth) State(now time.Time) HealthState {
	switch {
	case !h.DisabledAt.IsZero():
		return HealthDisabled
	case h.PausedUntil.After(now):
		return HealthPaused
	case h.Cooldown > 0:
		return HealthProbing
	case h.Failures > 0:
		return HealthFailing
	}
	return HealthOK
}

// Record returns h after the final attempt a: a success ends the streak
// of failures, closes the breaker and lifts a pause; a failure extends
// the streak. A canceled attempt changes nothing, nor does a failure that
// sent no request (AttemptedAt zero: the endpoint lookup failed, or a
// sender died and its lease ended), since neither is the endpoint's doing.
// Stores that keep health call it, or do the same, from Complete.
func (h EndpointHealth) Record(a Attempt) EndpointHealth {
	switch {
	case a.Status == StatusSuccess:
		h.Failures, h.FailingSince, h.Cooldown, h.PausedUntil = 0, time.Time{}, 0, time.Time{}
	case a.Status == StatusFailure && !a.AttemptedAt.IsZero():
		if h.Failures == 0 {
			h.FailingSince = a.AttemptedAt
		}
		h.Failures++
	default:
		return h
	}
	h.LastStatusCode, h.LastError = a.ResponseStatusCode, a.Error
	return h
}

// PauseRequest asks HealthStore.Pause to pause an endpoint.
type PauseRequest struct {
	// EndpointID names the endpoint. Required.
	EndpointID string
	// Until is when the pause ends. A pause never shortens one that ends
	// later.
	Until time.Time
	// Cooldown, when positive, opens the circuit breaker with this
	// cool-down (EndpointHealth.Cooldown). Zero leaves the breaker as it
	// is, as a Retry-After pause does.
	Cooldown time.Duration
}

// HealthStore is a Store that keeps endpoint health, so that every
// process sharing it agrees on which endpoints are paused or disabled.
// memstore and sqlstore implement it. With a Store that does not, the
// Dispatcher keeps health in its own process: the breaker still opens,
// but each process counts its own failures and pauses on its own, a paused
// endpoint's attempts are claimed and handed back instead of skipped by
// the claim, and health is lost when the process ends.
//
// Beyond the methods below, a HealthStore keeps health in its Store
// methods, as storetest checks:
//   - Complete records the outcome (see EndpointHealth.Record) in the same
//     atomic step;
//   - Claim leases no attempt of an endpoint that is disabled or paused at
//     the request's Now, and while the endpoint is half-open (Cooldown
//     set, pause over), at most one at a time, marking it Job.Probe.
type HealthStore interface {
	Store
	// Health returns the endpoint's health. An endpoint with nothing
	// recorded has the zero EndpointHealth, with EndpointID set.
	Health(ctx context.Context, endpointID string) (EndpointHealth, error)
	// Pause pauses an endpoint as req says, and returns its health.
	Pause(ctx context.Context, req PauseRequest) (EndpointHealth, error)
	// Disable stops claims of the endpoint's attempts at once, recording
	// at as its DisabledAt, if it is not disabled yet, and reports whether
	// this call disabled it: of concurrent calls, exactly one does.
	Disable(ctx context.Context, endpointID string, at time.Time) (bool, error)
	// Resume lifts a pause or a disable, closes the breaker and clears the
	// streak of failures, so that the endpoint's due attempts are claimed
	// at once.
	Resume(ctx context.Context, endpointID string) error
}

// Validate returns an error wrapping ErrInvalidInput when req names no
// endpoint or no end, or has a negative Cooldown. Stores call it from
// Pause.
func (req PauseRequest) Validate() error {
	if req.EndpointID == "" || req.Until.IsZero() || req.Cooldown < 0 {
		return invalid("a pause needs an endpoint ID, an end, and a cool-down that is not negative")
	}
	return nil
}
