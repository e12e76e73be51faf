package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/webhookkit/delivery"
)

var _ delivery.PurgeStore = (*Store)(nil)

// purgeQuery returns the statement of Purge: it deletes up to :limit final
// attempts scheduled, and sent if they were, before :before, found through
// the index on status and scheduled time, one range of it per final
// status, and returns their event IDs. PostgreSQL skips the rows another
// purge has locked, so that purges never wait for each other. MySQL has no
// DELETE … RETURNING: there the statement selects the rows, under lock,
// for a DELETE by ID that follows.
func purgeQuery(d Dialect, prefix string) namedStmt {
	attempts := prefix + "attempts"
	old := " WHERE status <> 2 AND status IN (0, 1, 3) AND scheduled_at < :before AND (attempted_at IS NULL OR attempted_at < :before)"
	types := map[string]string{"before": pTime, "limit": pInt}
	switch d {
	case Postgres:
		// The IDs are collected first, as an array, so that the rows are
		// then found by primary key, not by a join that reads the table.
		return d.named("DELETE FROM "+attempts+" WHERE id = ANY(ARRAY(SELECT id FROM "+attempts+old+
			" LIMIT :limit FOR UPDATE SKIP LOCKED)) RETURNING event_id", types)
	case MySQL:
		return d.named("SELECT id, event_id FROM "+attempts+old+" LIMIT :limit FOR UPDATE SKIP LOCKED", types)
	default:
		return d.named("DELETE FROM "+attempts+" WHERE id IN (SELECT id FROM "+attempts+old+" LIMIT :limit) RETURNING event_id", types)
	}
}

// Purge implements delivery.PurgeStore: in one short transaction, it
// deletes at most limit attempts, then the events they leave without an
// attempt. Attempts reference their events on PostgreSQL and MySQL, so an
// event that gains an attempt meanwhile is not deleted: the engine refuses
// the delete, and the purge runs again. On SQLite, the pages the rows held
// are then given back to the file system (see SQLiteDSN); PostgreSQL
// leaves them to autovacuum, which makes them free for new rows, and
// InnoDB reuses them likewise.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit <= 0 || before.IsZero() {
		return 0, fmt.Errorf("sqlstore: purge needs a positive limit and a time: %w", delivery.ErrInvalidInput)
	}
	v := map[string]any{"before": s.dialect.timeArg(before.UTC()), "limit": limit}
	var n int
	err := retryDeadlocks(ctx, func() error {
		n = 0
		tx, err := s.db.BeginTx(ctx, s.dialect.claimTxOptions())
		if err != nil {
			return fmt.Errorf("sqlstore: purge: begin: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // after Commit it only reports ErrTxDone.
		ids, events, err := s.purgeAttempts(ctx, tx, v)
		if err != nil {
			return err
		}
		// An attempt of an event stored meanwhile makes this fail by the
		// foreign key, and the purge run again.
		if err := s.deleteOrphans(ctx, tx, events); err != nil {
			return fmt.Errorf("sqlstore: purge: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlstore: purge: commit: %w", err)
		}
		n = ids
		return nil
	})
	if err != nil {
		return 0, err
	}
	if s.dialect == SQLite && n > 0 {
		if _, err := s.db.ExecContext(ctx, "PRAGMA incremental_vacuum"); err != nil {
			return n, fmt.Errorf("sqlstore: purge: returning free pages: %w", err)
		}
	}
	return n, nil
}

// purgeAttempts deletes the attempts of a purge in tx, and returns how
// many it deleted and their events, each once.
func (s *Store) purgeAttempts(ctx context.Context, tx *sql.Tx, v map[string]any) (int, []string, error) {
	rows, err := tx.QueryContext(ctx, s.purge.query, s.purge.args(v)...)
	if err != nil {
		return 0, nil, fmt.Errorf("sqlstore: purge: %w", err)
	}
	defer rows.Close()
	n := 0
	var ids, events []string // ids: MySQL's rows, to delete by ID
	seen := map[string]bool{}
	for rows.Next() {
		var id, event string
		dest := []any{&event}
		if s.dialect == MySQL {
			dest = []any{&id, &event}
		}
		if err := rows.Scan(dest...); err != nil {
			return 0, nil, fmt.Errorf("sqlstore: purge: %w", err)
		}
		n++
		if s.dialect == MySQL {
			ids = append(ids, id)
		}
		if !seen[event] {
			seen[event] = true
			events = append(events, event)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("sqlstore: purge: %w", err)
	}
	if err := s.execIn(ctx, tx, s.q.undo, ids); err != nil {
		return 0, nil, fmt.Errorf("sqlstore: purge: %w", err)
	}
	return n, events, nil
}
