package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// sqlitePages returns the pages of db's file, and how many are free.
func sqlitePages(t *testing.T, db *sql.DB) (pages, free int) {
	t.Helper()
	require.NoError(t, db.QueryRow("PRAGMA page_count").Scan(&pages))
	require.NoError(t, db.QueryRow("PRAGMA freelist_count").Scan(&free))
	return pages, free
}

// On SQLite, a purge gives the pages of what it deleted back to the file
// system: the file shrinks, and keeps no free pages.
func TestPurgeShrinksSQLiteFile(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	var mode int
	require.NoError(t, db.QueryRow("PRAGMA auto_vacuum").Scan(&mode))
	require.Equal(t, 2, mode, "a new file is incremental")
	s := newStore(t, db)

	old := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Microsecond)
	payload := make([]byte, 1024)
	var jobs []delivery.Job
	for i := range 3000 {
		jobs = append(jobs, delivery.Job{Attempt: delivery.Attempt{ID: ulid.Make().String(), EventID: fmt.Sprintf("evt_%d", i),
			EndpointID: "ep_1", EndpointURL: "https://example.com/", Status: delivery.StatusPending, AttemptNumber: 1,
			Trigger: delivery.TriggerFirst, ScheduledAt: old}, Payload: payload})
	}
	for chunk := range slices.Chunk(jobs, 500) {
		require.NoError(t, s.Insert(ctx, chunk...))
	}
	for _, j := range jobs[:2900] {
		f := j.Attempt
		f.Status, f.AttemptedAt, f.ResponseStatusCode, f.Response = delivery.StatusSuccess, old, 200, `{"ok":true}`
		require.NoError(t, s.Complete(ctx, f, nil))
	}
	full, _ := sqlitePages(t, db)

	for {
		n, err := s.Purge(ctx, time.Now().Add(-24*time.Hour), 1000)
		require.NoError(t, err)
		if n < 1000 {
			break
		}
	}
	pages, free := sqlitePages(t, db)
	require.Zero(t, free, "no free page is left in the file")
	require.Less(t, pages, full/5, "the file shrank from %d pages", full)
	page, err := s.List(ctx, delivery.ListQuery{Limit: delivery.MaxListLimit})
	require.NoError(t, err)
	require.Len(t, page.Attempts, 100, "the pending attempts stay")
}
