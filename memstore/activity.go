package memstore

import (
	"context"

	"github.com/webhookkit/delivery"
)

var _ delivery.ActivityStore = (*Store)(nil)

// Activity implements delivery.ActivityStore. It looks at every attempt.
func (s *Store) Activity(ctx context.Context, q delivery.ActivityQuery) ([]delivery.EndpointActivity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	out, index := q.Zero()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rows {
		i, ok := index[r.attempt.EndpointID]
		if !ok {
			continue
		}
		act := &out[i]
		switch r.attempt.Status {
		case delivery.StatusPending:
			act.Pending++
		case delivery.StatusSuccess, delivery.StatusFailure:
			b, ok := q.Bucket(r.attempt.AttemptedAt) // never for an attempt not sent
			if !ok {
				continue
			}
			if r.attempt.Status == delivery.StatusSuccess {
				act.Succeeded[b]++
			} else {
				act.Failed[b]++
			}
		}
	}
	return out, nil
}
