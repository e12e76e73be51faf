package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
	"github.com/webhookkit/delivery/storetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(migrateChildEnv) != "" {
		os.Exit(migrateChild())
	}
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			var db *sql.DB
			if e.dsn != "" {
				db = e.open(t) // one pool for all subtests; each has its own tables
			}
			storetest.Run(t, func(t *testing.T) delivery.Store {
				if e.dsn == "" {
					return newStore(t, e.open(t))
				}
				return newStore(t, db)
			})
		})
	}
}

func TestDetectDialect(t *testing.T) {
	for _, e := range engines(t) {
		s, err := sqlstore.New(e.open(t), nil)
		require.NoError(t, err)
		require.Equal(t, e.dialect, s.Dialect(), e.name)
		require.Equal(t, sqlstore.DefaultTablePrefix, s.TablePrefix())
	}
}

func TestTablePrefix(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			a, b := newStore(t, db), newStore(t, db)
			ctx := context.Background()
			att := attempt("evt_1")
			require.NoError(t, a.Insert(ctx, delivery.Job{Attempt: att}))
			_, err := b.Get(ctx, att.ID)
			require.ErrorIs(t, err, delivery.ErrNotFound, "stores with different prefixes share nothing")

			for _, bad := range []string{"1abc", "a-b", "a b", "x;DROP TABLE y", strings.Repeat("a", 33)} {
				_, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: bad})
				require.ErrorContains(t, err, "table prefix", bad)
			}
		})
	}
}

func TestMigrations(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL} {
		fsys, err := sqlstore.Migrations(d, "acme_")
		require.NoError(t, err)
		text, err := fs.ReadFile(fsys, "0001_attempts.sql")
		require.NoError(t, err, d.String())
		require.Contains(t, string(text), "CREATE TABLE acme_attempts")
		require.NotContains(t, string(text), "{prefix}")
	}
	_, err := sqlstore.Migrations(sqlstore.Postgres, "bad prefix")
	require.Error(t, err)
}

func TestMigrateTwice(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			s := newStore(t, db)
			require.NoError(t, s.Migrate(context.Background()), "a second Migrate is a no-op")
			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+s.TablePrefix()+"schema_migrations").Scan(&n))
			require.Equal(t, migrationCount(t, e.dialect), n)
		})
	}
}

// migrateChildEnv carries "dialect driver dsn prefix" to a child process
// that runs Migrate.
const migrateChildEnv = "SQLSTORE_TEST_MIGRATE_CHILD"

func migrateChild() int {
	var driver, dsn, prefix string
	if _, err := fmt.Sscan(os.Getenv(migrateChildEnv), &driver, &dsn, &prefix); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db.Close()
	s, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: prefix})
	if err == nil {
		err = s.Migrate(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Several processes that start at once all migrate, and the schema is
// created once.
func TestMigrateConcurrentProcesses(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			driver, dsn := map[sqlstore.Dialect]string{sqlstore.SQLite: "sqlite", sqlstore.Postgres: "pgx", sqlstore.MySQL: "mysql"}[e.dialect], e.dsn
			if dsn == "" {
				dsn = sqlstore.SQLiteDSN(t.TempDir() + "/shared.db")
			}
			db, err := sql.Open(driver, dsn)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			prefix := uniquePrefix()
			s, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: prefix})
			require.NoError(t, err)
			dropTables(t, db, s)

			const procs = 4
			var wg sync.WaitGroup
			outs := make([][]byte, procs)
			errs := make([]error, procs)
			for i := range procs {
				wg.Go(func() {
					cmd := exec.Command(os.Args[0], "-test.run=^$")
					cmd.Env = append(os.Environ(), migrateChildEnv+"="+driver+" "+dsn+" "+prefix)
					outs[i], errs[i] = cmd.CombinedOutput()
				})
			}
			wg.Wait()
			for i := range procs {
				require.NoError(t, errs[i], "process %d: %s", i, outs[i])
			}
			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+prefix+"schema_migrations").Scan(&n))
			require.Equal(t, migrationCount(t, e.dialect), n)
			require.NoError(t, s.Insert(context.Background(), delivery.Job{Attempt: attempt("evt_1")}), "the schema works")
		})
	}
}

// attemptNumbers hands out attempt numbers, so that attempts made by
// attempt never share an event, endpoint and number.
var attemptNumbers atomic.Int64

func attempt(event string) delivery.Attempt {
	return delivery.Attempt{
		ID:            ulid.Make().String(),
		EventID:       event,
		EndpointID:    "ep_1",
		EndpointURL:   "https://example.com/hook",
		Status:        delivery.StatusPending,
		AttemptNumber: int(attemptNumbers.Add(1)),
		Trigger:       delivery.TriggerFirst,
		ScheduledAt:   time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC),
	}
}

func TestColumnLimits(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, e.open(t))

			// Values at the limits round-trip.
			a := attempt(strings.Repeat("e", 255))
			a.EndpointURL = "https://example.com/" + strings.Repeat("ü", 2048-20)
			a.EndpointID = strings.Repeat("界", 255)
			payload := make([]byte, 1<<20)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: a, Payload: payload}))
			f := a
			f.Status = delivery.StatusFailure
			body := make([]byte, 64<<10)
			for i := range body {
				body[i] = byte(i)
			}
			f.Response = string(body)
			f.ResponseHeaders = http.Header{}
			for i := range 100 {
				f.ResponseHeaders[fmt.Sprintf("X-Header-%03d", i)] = []string{strings.Repeat("v", 100), "second"}
			}
			f.AttemptedAt = a.ScheduledAt.Add(time.Second)
			require.NoError(t, s.Complete(ctx, f, nil))
			got, err := s.Get(ctx, a.ID)
			require.NoError(t, err)
			require.Equal(t, f.Response, got.Response)
			require.Equal(t, f.ResponseHeaders, got.ResponseHeaders)
			require.Equal(t, a.EndpointURL, got.EndpointURL)
			ev, err := s.Event(ctx, a.EventID)
			require.NoError(t, err)
			require.Equal(t, payload, ev.Payload)

			// Values past them fail clearly, and store nothing.
			tests := []struct {
				name   string
				change func(*delivery.Attempt)
				msg    string
			}{
				{"long URL", func(a *delivery.Attempt) { a.EndpointURL = "https://example.com/" + strings.Repeat("a", 2048) }, "endpoint URL is 2068 characters, over the column's 2048"},
				{"long event ID", func(a *delivery.Attempt) { a.EventID = strings.Repeat("e", 256) }, "event ID is 256 characters"},
				{"long attempt ID", func(a *delivery.Attempt) { a.ID = strings.Repeat("A", 65) }, "attempt ID must have 1 to 64 bytes"},
				{"invalid UTF-8", func(a *delivery.Attempt) { a.EndpointID = "ep_\xff" }, "endpoint ID is not valid UTF-8"},
				{"NUL byte", func(a *delivery.Attempt) { a.EventType = "a\x00b" }, "event type is not valid UTF-8 without NUL"},
			}
			for _, tt := range tests {
				bad := attempt("evt_bad")
				tt.change(&bad)
				good := attempt("evt_good")
				err := s.Insert(ctx, delivery.Job{Attempt: good}, delivery.Job{Attempt: bad})
				require.ErrorContains(t, err, tt.msg, tt.name)
				_, err = s.Get(ctx, good.ID)
				require.ErrorIs(t, err, delivery.ErrNotFound, "%s: nothing of the batch is stored", tt.name)
			}
		})
	}
}

// Strings that look like SQL round-trip unchanged in every field, and
// match only themselves in filters.
func TestInjectionRoundTrip(t *testing.T) {
	evil := []string{`'; DROP TABLE attempts; --`, `" OR 1=1 --`, `\'; SELECT pg_sleep(10); --`, `%_*?$1`, "`x`"}
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, e.open(t))
			for _, v := range evil {
				a := attempt(v)
				a.EventType, a.EndpointID, a.EndpointURL = v, v, "https://example.com/?q="+v
				a.Trigger = delivery.Trigger(v[:min(len(v), 16)])
				require.NoError(t, s.Insert(ctx, delivery.Job{Attempt: a, Payload: []byte(v)}))
				f := a
				f.Status, f.Response, f.Error = delivery.StatusFailure, v, v
				f.ResponseHeaders = http.Header{v: {v}}
				require.NoError(t, s.Complete(ctx, f, nil))
				got, err := s.Get(ctx, a.ID)
				require.NoError(t, err)
				require.Equal(t, f.Response, got.Response)
				require.Equal(t, f.ResponseHeaders, got.ResponseHeaders)
				require.Equal(t, []any{v, v, v, f.EndpointURL}, []any{got.EventID, got.EventType, got.EndpointID, got.EndpointURL})
				page, err := s.List(ctx, delivery.ListQuery{EventID: v, EndpointID: v})
				require.NoError(t, err)
				require.Len(t, page.Attempts, 1, v)
			}
			page, err := s.List(ctx, delivery.ListQuery{EventID: "%"})
			require.NoError(t, err)
			require.Empty(t, page.Attempts, "filters match exactly, not as patterns")
		})
	}
}

func TestClosedDatabase(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			s := migratedStore(t, db)
			// Drop the tables first: once closed, cleanup cannot.
			require.NoError(t, s.Drop(context.Background()))
			require.NoError(t, db.Close())
			_, err := s.Get(context.Background(), "x")
			require.ErrorContains(t, err, "sqlstore: get x: sql: database is closed")
			err = s.Insert(context.Background(), delivery.Job{Attempt: attempt("evt_1")})
			require.ErrorContains(t, err, "database is closed")
		})
	}
}

func TestNewRejects(t *testing.T) {
	_, err := sqlstore.New(nil, nil)
	require.Error(t, err)
	db, err := sql.Open("sqlite", "file::memory:")
	require.NoError(t, err)
	defer db.Close()
	_, err = sqlstore.New(db, &sqlstore.Config{Dialect: sqlstore.Dialect(9)})
	require.ErrorContains(t, err, "unknown Dialect(9)")
}
