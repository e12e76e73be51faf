package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/webhookkit/delivery"
)

var _ delivery.ActivityStore = (*Store)(nil)

// Activity implements delivery.ActivityStore with two statements. The
// pending counts read the queue index, which holds pending attempts alone;
// the bucket counts read the index on (endpoint_id, attempted_at, status)
// of final attempts, over the query's time range only. Its cost grows with
// the endpoints asked for and the attempts they sent in the range, not
// with the table.
func (s *Store) Activity(ctx context.Context, q delivery.ActivityQuery) ([]delivery.EndpointActivity, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	out, index := q.Zero()
	st := s.activityStatements(q)
	err := s.scanCounts(ctx, st.pending, st.pendingArgs, func(id string, _, _, n int) { out[index[id]].Pending = n })
	if err != nil {
		return nil, fmt.Errorf("sqlstore: activity: %w", err)
	}
	err = s.scanCounts(ctx, st.sent, st.sentArgs, func(id string, status, b, n int) {
		if b < 0 || b >= q.Buckets {
			return
		}
		if delivery.Status(status) == delivery.StatusSuccess {
			out[index[id]].Succeeded[b] = n
		} else {
			out[index[id]].Failed[b] = n
		}
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: activity: %w", err)
	}
	return out, nil
}

// scanCounts runs query and hands each row to add: an endpoint ID, a
// status, a bucket and a count.
func (s *Store) scanCounts(ctx context.Context, query string, args []any, add func(id string, status, bucket, n int)) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var status, bucket, n int
		if err := rows.Scan(&id, &status, &bucket, &n); err != nil {
			return err
		}
		add(id, status, bucket, n)
	}
	return rows.Err()
}

// activityStatements are the statements of one Activity call, and their
// arguments.
type activityStatements struct {
	pending, sent         string
	pendingArgs, sentArgs []any
}

// activityStatements returns the statements that add up q: the pending
// attempts of each endpoint, and the sent ones by endpoint, status and
// bucket, with the bucket computed in the database.
func (s *Store) activityStatements(q delivery.ActivityQuery) activityStatements {
	d, table, in := s.dialect, s.prefix+"attempts", placeholders(len(q.EndpointIDs))
	ids := make([]any, len(q.EndpointIDs))
	for i, id := range q.EndpointIDs {
		ids[i] = id
	}
	var bucket string
	var from any
	switch d {
	case SQLite:
		bucket, from = "(attempted_at - ?) / ?", q.From.UnixMicro()
	case Postgres:
		bucket, from = "((extract(epoch FROM attempted_at) * 1000000)::bigint - ?) / ?", q.From.UnixMicro()
	default:
		bucket, from = "TIMESTAMPDIFF(MICROSECOND, ?, attempted_at) DIV ?", d.timeArg(q.From)
	}
	return activityStatements{
		pending: d.rebind("SELECT endpoint_id, 2, 0, COUNT(*) FROM " + table + d.indexHint(table, "_queue") +
			" WHERE status = 2 AND endpoint_id IN " + in + " GROUP BY endpoint_id"),
		pendingArgs: ids,
		sent: d.rebind("SELECT endpoint_id, status, " + bucket + ", COUNT(*) FROM " + table + d.indexHint(table, "_sent") +
			" WHERE endpoint_id IN " + in + " AND status IN (0, 1) AND attempted_at >= ? AND attempted_at < ? GROUP BY 1, 2, 3"),
		sentArgs: slices.Concat([]any{from, q.Step.Microseconds()}, ids, []any{d.timeArg(q.From), d.timeArg(q.To())}),
	}
}
