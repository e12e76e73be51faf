package sqlstore

import (
	"context"

	"github.com/webhookkit/delivery"
)

// OnBatch makes s tell f the size of every group-commit batch. Call it
// before s is used.
func OnBatch(s *Store, f func(n int)) { s.commits.onBatch = func(batch []*write) { f(len(batch)) } }

// InsertAttempts stores jobs in the attempts table alone, as a Store of
// the first schema did: without a trace parent.
func InsertAttempts(ctx context.Context, s *Store, jobs ...delivery.Job) error {
	query := s.dialect.rebind("INSERT INTO " + s.prefix + "attempts (" + columns + ", payload, lease_owner, lease_until) VALUES " +
		placeholders(insertArity))
	for _, j := range jobs {
		args, err := s.rowArgs(j)
		if err != nil {
			return err
		}
		// The attempt's columns, then the payload and the lease, without
		// the trace parent.
		args = append(append(args[:insertArity-3:insertArity-3], payloadArg(j)), args[insertArity-3:insertArity-1]...)
		if _, err := s.db.ExecContext(ctx, query, args...); err != nil {
			return err
		}
	}
	return nil
}
