package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/webhookkit/delivery"
)

var _ delivery.HealthStore = (*Store)(nil)

// Health implements delivery.HealthStore.
func (s *Store) Health(ctx context.Context, endpointID string) (delivery.EndpointHealth, error) {
	if err := ctx.Err(); err != nil {
		return delivery.EndpointHealth{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.endpoints[endpointID]; e != nil {
		return e.health, nil
	}
	return delivery.EndpointHealth{EndpointID: endpointID}, nil
}

// Pause implements delivery.HealthStore.
func (s *Store) Pause(ctx context.Context, req delivery.PauseRequest) (delivery.EndpointHealth, error) {
	if err := ctx.Err(); err != nil {
		return delivery.EndpointHealth{}, err
	}
	if err := req.Validate(); err != nil {
		return delivery.EndpointHealth{}, fmt.Errorf("memstore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpointOf(req.EndpointID)
	if until := req.Until.UTC(); until.After(e.health.PausedUntil) {
		e.health.PausedUntil = until
		e.served = false
	}
	if req.Cooldown > 0 {
		e.health.Cooldown = req.Cooldown
	}
	s.place(e)
	return e.health, nil
}

// Disable implements delivery.HealthStore.
func (s *Store) Disable(ctx context.Context, endpointID string, at time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if endpointID == "" {
		return false, fmt.Errorf("memstore: disable needs an endpoint ID: %w", delivery.ErrInvalidInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpointOf(endpointID)
	if !e.health.DisabledAt.IsZero() {
		return false, nil
	}
	e.health.DisabledAt = at.UTC()
	e.readyAt = time.Time{}
	s.place(e)
	return true, nil
}

// Resume implements delivery.HealthStore.
func (s *Store) Resume(ctx context.Context, endpointID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpoints[endpointID]
	if e == nil {
		return nil
	}
	h := &e.health
	h.Failures, h.FailingSince, h.PausedUntil, h.Cooldown, h.DisabledAt = 0, time.Time{}, time.Time{}, 0, time.Time{}
	e.readyAt, e.served, e.saturated = time.Time{}, false, false
	var earliest time.Time
	if e.free.Len() > 0 {
		earliest = e.free.rows[0].attempt.ScheduledAt
	}
	for r := range e.leased {
		if earliest.IsZero() || r.attempt.ScheduledAt.Before(earliest) {
			earliest = r.attempt.ScheduledAt
		}
	}
	s.lower(e, earliest)
	return nil
}
