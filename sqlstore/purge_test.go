package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
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

// Purges that delete old events race inserts of new attempts of those
// events: every attempt stored keeps its event, whichever comes first, on
// every engine. An event that the purge deleted first is stored again by
// the insert, with the insert's payload.
func TestPurgeRacesInserts(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			db := serverPool(e.open(t), e)
			s := newStore(t, db)
			old := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Microsecond)
			const events = 300
			mk := func(i int, endpoint string) delivery.Job {
				return delivery.Job{Attempt: delivery.Attempt{ID: ulid.Make().String(), EventID: fmt.Sprintf("evt_%d", i),
					EndpointID: endpoint, EndpointURL: "https://example.com/", Status: delivery.StatusPending, AttemptNumber: 1,
					Trigger: delivery.TriggerFirst, ScheduledAt: old}, Payload: fmt.Appendf(nil, "%s-%d", endpoint, i)}
			}
			var finals []delivery.Job
			for i := range events {
				finals = append(finals, mk(i, "ep_old"))
			}
			for chunk := range slices.Chunk(finals, 100) {
				require.NoError(t, s.Insert(ctx, chunk...))
			}
			for _, j := range finals {
				f := j.Attempt
				f.Status, f.AttemptedAt, f.ResponseStatusCode = delivery.StatusSuccess, old, 200
				require.NoError(t, s.Complete(ctx, f, nil))
			}

			done := make(chan struct{})
			purged := make(chan error, 1)
			go func() {
				for {
					n, err := s.Purge(ctx, time.Now().Add(-24*time.Hour), 7)
					if err != nil {
						purged <- err
						return
					}
					select {
					case <-done:
						if n == 0 {
							purged <- nil
							return
						}
					default:
					}
				}
			}()
			var wg sync.WaitGroup
			errs := make(chan error, events)
			for w := range 4 {
				wg.Go(func() {
					// From the last event down, so that inserts meet the
					// purge, which deletes from the first up.
					for i := events - 1 - w; i >= 0; i -= 4 {
						errs <- s.Insert(ctx, mk(i, "ep_new"))
					}
				})
			}
			wg.Wait()
			close(done)
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.NoError(t, <-purged)

			again := 0
			for i := range events {
				ev, err := s.Event(ctx, fmt.Sprintf("evt_%d", i))
				require.NoError(t, err, "event %d keeps its stored attempt", i)
				require.Contains(t, []string{fmt.Sprintf("ep_old-%d", i), fmt.Sprintf("ep_new-%d", i)}, string(ev.Payload))
				if string(ev.Payload) == fmt.Sprintf("ep_new-%d", i) {
					again++
				}
			}
			t.Logf("%d of %d events were purged before their new attempt stored them again", again, events)
			claimed := 0
			for range events {
				jobs, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "w", Now: time.Now(), Until: time.Now().Add(time.Minute), Limit: events})
				require.NoError(t, err)
				if len(jobs) == 0 {
					break
				}
				for _, j := range jobs {
					require.NotEmpty(t, j.Payload, "attempt of %s is sent with its event's payload", j.Attempt.EventID)
				}
				claimed += len(jobs)
			}
			require.Equal(t, events, claimed)
		})
	}
}
