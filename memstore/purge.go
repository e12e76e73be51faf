package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/webhookkit/delivery"
)

var _ delivery.PurgeStore = (*Store)(nil)

// Purge implements delivery.PurgeStore. It looks at every attempt, and
// frees the memory of those it deletes.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit <= 0 || before.IsZero() {
		return 0, fmt.Errorf("memstore: purge needs a positive limit and a time: %w", delivery.ErrInvalidInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := make(map[string]bool)
	for id, r := range s.rows {
		if len(gone) == limit {
			break
		}
		a := r.attempt
		if !a.Final() || !a.ScheduledAt.Before(before) || !a.AttemptedAt.IsZero() && !a.AttemptedAt.Before(before) {
			continue
		}
		gone[id] = true
		delete(s.rows, id)
		delete(s.numbers, numberOf(a))
		if r.event.attempts--; r.event.attempts == 0 {
			delete(s.events, a.EventID)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	s.ids = slices.DeleteFunc(s.ids, func(id string) bool { return gone[id] })
	if cap(s.ids) > 2*len(s.ids)+1024 {
		s.ids = slices.Clone(s.ids) // let the larger array go
	}
	return len(gone), nil
}
