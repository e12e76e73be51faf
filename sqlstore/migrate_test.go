package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

// migrationCount returns how many migrations the dialect has.
func migrationCount(t *testing.T, d sqlstore.Dialect) int {
	fsys, err := sqlstore.Migrations(d, "x_")
	require.NoError(t, err)
	names, err := fs.Glob(fsys, "*.sql")
	require.NoError(t, err)
	return len(names)
}

// applyFirstMigration creates s's schema as the first migration left it.
func applyFirstMigration(t *testing.T, db *sql.DB, s *sqlstore.Store) {
	fsys, err := sqlstore.Migrations(s.Dialect(), s.TablePrefix())
	require.NoError(t, err)
	text, err := fs.ReadFile(fsys, "0001_attempts.sql")
	require.NoError(t, err)
	var stmt strings.Builder
	for line := range strings.Lines(string(text)) {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		stmt.WriteString(line)
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			_, err := db.Exec(strings.TrimSuffix(strings.TrimSpace(stmt.String()), ";"))
			require.NoError(t, err)
			stmt.Reset()
		}
	}
	_, err = db.Exec("CREATE TABLE " + s.TablePrefix() + "schema_migrations (version INTEGER NOT NULL PRIMARY KEY)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO " + s.TablePrefix() + "schema_migrations (version) VALUES (1)")
	require.NoError(t, err)
}

// Migrating a populated database of the first schema numbers again the
// attempts that shared a number, keeps every other attempt as it was, and
// leaves a schema on which the numbers are unique, leases work, every
// endpoint with pending attempts has its turn in the claims, and each event
// keeps its payload once.
func TestMigratePopulated(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			db := e.open(t)
			s, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: uniquePrefix(), GroupCommit: 1})
			require.NoError(t, err)
			dropTables(t, db, s)
			applyFirstMigration(t, db, s)

			// An event enqueued twice, one of them then superseded for a
			// changed URL, and many attempts that were fine.
			mk := func(event string, number int) delivery.Attempt {
				a := attempt(event)
				a.AttemptNumber = number
				return a
			}
			twice1, twice2, superseded, successor := mk("evt_twice", 1), mk("evt_twice", 1), mk("evt_twice", 2), mk("evt_twice", 2)
			for _, a := range []delivery.Attempt{twice1, twice2, superseded, successor} {
				require.NoError(t, sqlstore.InsertAttempts(ctx, s, delivery.Job{Attempt: a, Payload: []byte(`{}`)}))
			}
			const fine = 3000
			var jobs []delivery.Job
			for i := range fine {
				a := mk(fmt.Sprintf("evt_%05d", i/3), i%3+1)
				jobs = append(jobs, delivery.Job{Attempt: a, Payload: fmt.Appendf(nil, `{"n":%d}`, i)})
			}
			require.NoError(t, sqlstore.InsertAttempts(ctx, s, jobs...))
			held := mk("evt_held", 1)
			require.NoError(t, sqlstore.InsertAttempts(ctx, s, delivery.Job{Attempt: held, Lease: delivery.Lease{Owner: "old", Until: held.ScheduledAt.Add(time.Minute)}}))

			require.NoError(t, s.Migrate(ctx))
			// Each event keeps the payload of its attempt of greatest ID,
			// which Event returned before, and its attempts share it.
			latest := map[string]delivery.Job{}
			for _, j := range jobs {
				if l, ok := latest[j.Attempt.EventID]; !ok || l.Attempt.ID < j.Attempt.ID {
					latest[j.Attempt.EventID] = j
				}
			}
			for _, id := range []string{"evt_00000", "evt_00500", "evt_00999"} {
				ev, err := s.Event(ctx, id)
				require.NoError(t, err)
				require.Equal(t, string(latest[id].Payload), string(ev.Payload), "event %s", id)
			}
			for want, a := range map[int]delivery.Attempt{1: twice1, 2: twice2, 3: superseded, 4: successor} {
				got, err := s.Get(ctx, a.ID)
				require.NoError(t, err)
				require.Equal(t, want, got.AttemptNumber, "attempt %s, numbered %d before", a.ID, a.AttemptNumber)
			}
			for _, j := range jobs[:50] {
				got, err := s.Get(ctx, j.Attempt.ID)
				require.NoError(t, err)
				require.Equal(t, j.Attempt.AttemptNumber, got.AttemptNumber, "an attempt whose number was unique keeps it")
			}
			page, err := s.List(ctx, delivery.ListQuery{Limit: delivery.MaxListLimit})
			require.NoError(t, err)
			require.Len(t, page.Attempts, delivery.MaxListLimit)

			again := mk("evt_twice", 4)
			require.ErrorIs(t, s.Insert(ctx, delivery.Job{Attempt: again}), delivery.ErrDuplicate, "numbers are unique now")
			claimed, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "new", Now: held.ScheduledAt.Add(2 * time.Minute),
				Until: held.ScheduledAt.Add(3 * time.Minute), Limit: fine + 10})
			require.NoError(t, err)
			require.Len(t, claimed, fine+5)
			for _, j := range claimed {
				require.Equal(t, j.Attempt.ID == held.ID, j.Reclaimed, "attempt %s", j.Attempt.ID)
				if l, ok := latest[j.Attempt.EventID]; ok {
					require.Equal(t, string(l.Payload), string(j.Payload), "attempt %s is sent with its event's payload", j.Attempt.ID)
				}
			}
		})
	}
}
