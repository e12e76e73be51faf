package sqlstore

import (
	"context"
	"slices"

	"github.com/webhookkit/delivery"
)

// OnBatch makes s tell f the size of every group-commit batch. Call it
// before s is used.
func OnBatch(s *Store, f func(n int)) { s.commits.onBatch = f }

// InsertAttempts stores jobs in the attempts table alone, as a Store of
// the first schema did.
func InsertAttempts(ctx context.Context, s *Store, jobs ...delivery.Job) error {
	for chunk := range slices.Chunk(jobs, insertBatch) {
		if err := s.insert(ctx, s.db, chunk); err != nil {
			return err
		}
	}
	return nil
}
