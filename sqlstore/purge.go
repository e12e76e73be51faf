package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/webhookkit/delivery"
)

var _ delivery.PurgeStore = (*Store)(nil)

// purgeQuery returns the statement of Purge: it deletes up to :limit final
// attempts scheduled, and sent if they were, before :before, found through
// the index on status and scheduled time, one range of it per final
// status. PostgreSQL skips the rows another purge has locked, so that
// purges never wait for each other.
func purgeQuery(d Dialect, prefix string) namedStmt {
	attempts := prefix + "attempts"
	old := " WHERE status <> 2 AND status IN (0, 1, 3) AND scheduled_at < :before AND (attempted_at IS NULL OR attempted_at < :before)"
	types := map[string]string{"before": pTime, "limit": pInt}
	switch d {
	case Postgres:
		// The IDs are collected first, as an array, so that the rows are
		// then found by primary key, not by a join that reads the table.
		return d.named("DELETE FROM "+attempts+" WHERE id = ANY(ARRAY(SELECT id FROM "+attempts+old+
			" LIMIT :limit FOR UPDATE SKIP LOCKED))", types)
	case MySQL:
		return d.named("DELETE FROM "+attempts+old+" LIMIT :limit", types)
	default:
		return d.named("DELETE FROM "+attempts+" WHERE id IN (SELECT id FROM "+attempts+old+" LIMIT :limit)", types)
	}
}

// Purge implements delivery.PurgeStore: one DELETE of at most limit rows.
// An attempt's payload is on its row, so it goes with it. On SQLite, the
// pages the rows held are then given back to the file system (see
// SQLiteDSN); PostgreSQL leaves them to autovacuum, which makes them free
// for new rows, and InnoDB reuses them likewise.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit <= 0 || before.IsZero() {
		return 0, fmt.Errorf("sqlstore: purge needs a positive limit and a time: %w", delivery.ErrInvalidInput)
	}
	v := map[string]any{"before": s.dialect.timeArg(before.UTC()), "limit": limit}
	res, err := s.db.ExecContext(ctx, s.purge.query, s.purge.args(v)...)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: purge: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: purge: %w", err)
	}
	if s.dialect == SQLite && n > 0 {
		if _, err := s.db.ExecContext(ctx, "PRAGMA incremental_vacuum"); err != nil {
			return int(n), fmt.Errorf("sqlstore: purge: returning free pages: %w", err)
		}
	}
	return int(n), nil
}
