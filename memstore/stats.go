package memstore

import (
	"context"
	"time"

	"github.com/webhookkit/delivery"
)

var _ delivery.StatsStore = (*Store)(nil)

// QueueStats implements delivery.StatsStore. It looks at every pending
// attempt and every endpoint.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (delivery.QueueStats, error) {
	if err := ctx.Err(); err != nil {
		return delivery.QueueStats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var st delivery.QueueStats
	for _, e := range s.endpoints {
		st.CountEndpoint(e.health, now)
	}
	for _, r := range s.pending {
		h := r.ep.health
		if r.attempt.ScheduledAt.After(now) || h.PausedUntil.After(now) || !h.DisabledAt.IsZero() {
			continue
		}
		st.Due++
		if st.OldestDue.IsZero() || r.attempt.ScheduledAt.Before(st.OldestDue) {
			st.OldestDue = r.attempt.ScheduledAt
		}
	}
	return st, nil
}
