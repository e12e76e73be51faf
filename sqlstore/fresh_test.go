package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// A group commit completes attempts by primary key on a PostgreSQL table
// that was never analyzed, even on a connection whose statement was
// planned while the table was new: 5,000 attempts stored since, none of
// them read to complete one.
func TestPostgresCompletionOnNewTable(t *testing.T) {
	ctx := context.Background()
	s, db := postgresPlanStore(t, "fresh_")
	db.SetMaxOpenConns(1) // one connection, whose prepared statement keeps its plan
	table := s.prefix + "attempts"
	_, err := db.ExecContext(ctx, "ALTER TABLE "+table+" SET (autovacuum_enabled = false)")
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Microsecond)
	job := func(i int) delivery.Job {
		return delivery.Job{Attempt: delivery.Attempt{ID: fmt.Sprintf("%026d", i), EventID: fmt.Sprintf("evt_%d", i), EndpointID: "ep_1",
			EndpointURL: "https://example.com/", Status: delivery.StatusPending, AttemptNumber: 1, Trigger: delivery.TriggerFirst,
			ScheduledAt: now}, Lease: delivery.Lease{Owner: "o", Until: now.Add(time.Hour)}, Payload: []byte(`{}`)}
	}
	complete := func(i int) {
		a := job(i).Attempt
		a.Status, a.ResponseStatusCode, a.AttemptedAt = delivery.StatusSuccess, 204, now
		require.NoError(t, s.Complete(ctx, a, nil))
	}
	// Enough completions on the new table for PostgreSQL to settle on a
	// generic plan of the statement.
	for i := range 10 {
		require.NoError(t, s.Insert(ctx, job(i)))
		complete(i)
	}
	var jobs []delivery.Job
	for i := 100; i < 5100; i++ {
		jobs = append(jobs, job(i))
	}
	for chunk := range slices.Chunk(jobs, 500) {
		require.NoError(t, s.Insert(ctx, chunk...))
	}
	var before int64
	read := func() int64 {
		var n int64
		_, err := db.ExecContext(ctx, "SELECT pg_stat_force_next_flush()")
		require.NoError(t, err)
		require.NoError(t, db.QueryRowContext(ctx, "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = $1", table).Scan(&n))
		return n
	}
	before = read()
	complete(4000)
	require.Zero(t, read()-before, "rows of %s read in sequence to complete one attempt", table)
}
