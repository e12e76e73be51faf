package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/webhookkit/delivery"
)

var _ delivery.StatsStore = (*Store)(nil)

// statsQueries are the statements of QueueStats.
type statsQueries struct {
	// due counts the due pending attempts of each endpoint in an
	// index-only scan of the queue index, then leaves out the endpoints
	// that are paused or disabled: one primary-key probe of the endpoints
	// table per endpoint with due work.
	due namedStmt
	// states counts the endpoints in each state, reading every endpoint
	// row.
	states namedStmt
}

func newStatsQueries(d Dialect, prefix string) statsQueries {
	attempts, endpoints := prefix+"attempts", prefix+"endpoints"
	types := map[string]string{"now": pTime}
	return statsQueries{
		due: d.named("SELECT COALESCE(SUM(q.n), 0), MIN(q.oldest) FROM (SELECT endpoint_id, COUNT(*) AS n, MIN(scheduled_at) AS oldest FROM "+
			attempts+d.indexHint(attempts, "_queue")+" WHERE status = 2 AND scheduled_at <= :now GROUP BY endpoint_id) AS q"+
			" WHERE NOT EXISTS (SELECT 1 FROM "+endpoints+" AS e WHERE e.endpoint_id = q.endpoint_id"+
			" AND (e.paused_until > :now OR e.disabled_at IS NOT NULL))", types),
		states: d.named("SELECT"+
			" COALESCE(SUM(CASE WHEN disabled_at IS NULL AND paused_until > :now THEN 1 ELSE 0 END), 0),"+
			" COALESCE(SUM(CASE WHEN disabled_at IS NULL AND (paused_until IS NULL OR paused_until <= :now) AND cooldown_ns > 0 THEN 1 ELSE 0 END), 0),"+
			" COALESCE(SUM(CASE WHEN disabled_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM "+endpoints, types),
	}
}

// QueueStats implements delivery.StatsStore. Its cost grows with the
// pending attempts that are due, read from an index alone, and with the
// endpoints.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (delivery.QueueStats, error) {
	if err := ctx.Err(); err != nil {
		return delivery.QueueStats{}, err
	}
	v := map[string]any{"now": s.dialect.timeArg(now.UTC())}
	var st delivery.QueueStats
	var oldest dbTime
	if err := s.db.QueryRowContext(ctx, s.sq.due.query, s.sq.due.args(v)...).Scan(&st.Due, &oldest); err != nil {
		return delivery.QueueStats{}, fmt.Errorf("sqlstore: queue stats: %w", err)
	}
	st.OldestDue = oldest.t
	err := s.db.QueryRowContext(ctx, s.sq.states.query, s.sq.states.args(v)...).Scan(&st.Paused, &st.Probing, &st.Disabled)
	if err != nil {
		return delivery.QueueStats{}, fmt.Errorf("sqlstore: endpoint states: %w", err)
	}
	return st, nil
}
