package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

// storageFanOut is the number of endpoints each event of the storage
// report goes to, and storageRetried the share of deliveries whose first
// try fails and is retried.
const (
	storageFanOut  = 10
	storageRetried = 0.3
)

// runStorage reports the bytes that the attempts of events events take on
// each engine: events of 1 KiB payloads, each to 10 endpoints, delivered by
// the worker to a receiver that fails the first try of 30% of the
// deliveries, so that a final store holds 1.3 attempts a delivery, every
// one completed as the library completes it.
func runStorage(events int, pgDSN, myDSN, only string) error {
	dir, err := os.MkdirTemp("", "deliverybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	type engine struct{ name, driver, dsn string }
	engines := []engine{{"sqlite", "sqlite", filepath.Join(dir, "storage.db")}}
	if pgDSN != "" {
		engines = append(engines, engine{"postgres", "pgx", pgDSN})
	}
	if myDSN != "" {
		engines = append(engines, engine{"mysql", "mysql", myDSN})
	}
	fmt.Printf("Storage of %d events of %d-byte payloads, each to %d endpoints, %.0f%% of deliveries retried once\n\n",
		events, len(storagePayload), storageFanOut, storageRetried*100)
	fmt.Printf("%-22s %10s %12s %12s %10s %10s %10s\n", "store", "attempts", "table MB", "index MB", "table B/a", "index B/a", "total B/a")
	for _, e := range engines {
		if only != "" && !strings.Contains(","+only+",", ","+e.name+",") {
			continue
		}
		if err := storage(e.name, e.driver, e.dsn, events); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	return nil
}

// storage fills one engine, drains it to a receiver of its own, and
// prints its row of the report and the bytes of each table and index; on
// PostgreSQL, a second row after VACUUM FULL.
func storage(name, driver, dsn string, events int) error {
	base, stop, err := storageReceiver()
	if err != nil {
		return err
	}
	defer stop()
	db, err := openDB(driver, dsn)
	if err != nil {
		return err
	}
	printVersion(name, db)
	prefix := fmt.Sprintf("storage%d_", time.Now().UnixNano()%1e9)
	st, done, err := migrated(db, prefix, driver != "sqlite")
	if err != nil {
		return err
	}
	defer done()
	s := st.(*sqlstore.Store)
	ctx := context.Background()
	if driver == "sqlite" {
		// Only the speed of the fill changes: the bytes on disk are those
		// of synchronous=FULL.
		if _, err := db.ExecContext(ctx, "PRAGMA synchronous=OFF"); err != nil {
			return err
		}
	}
	if err := storageFill(ctx, s, base, 0, events); err != nil {
		return err
	}
	if err := storageDrain(ctx, s, base); err != nil {
		return err
	}
	var attempts int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+prefix+"attempts").Scan(&attempts); err != nil {
		return err
	}
	if err := storageRow(ctx, db, s.Dialect(), name, prefix, attempts); err != nil {
		return err
	}
	if s.Dialect() == sqlstore.Postgres {
		// Completions update rows: HOT updates, which write no index, are
		// what lean writes would raise. The statistics arrive within a
		// second or so of the last transaction.
		time.Sleep(2 * time.Second)
		var upd, hot int64
		if err := db.QueryRowContext(ctx, "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = $1",
			s.TablePrefix()+"attempts").Scan(&upd, &hot); err != nil {
			return err
		}
		fmt.Printf("    attempts updated %d times, %d of them HOT (%.0f%%)\n", upd, hot, 100*float64(hot)/float64(max(upd, 1)))
		// What the table holds besides its rows is the space of the
		// versions that completions replaced, which autovacuum frees for
		// new rows: the compacted size is what the rows need.
		for _, t := range []string{"attempts", "events", "endpoints"} {
			if _, err := db.ExecContext(ctx, "VACUUM FULL "+s.TablePrefix()+t); err != nil {
				return err
			}
		}
		if err := storageRow(ctx, db, s.Dialect(), name+", VACUUM FULL", prefix, attempts); err != nil {
			return err
		}
	}
	return storagePurged(ctx, db, s)
}

// storagePurged purges every attempt and prints how many bytes the
// database's files hold before and after: SQLite gives the pages back to
// the file system; PostgreSQL and InnoDB keep them for new rows.
func storagePurged(ctx context.Context, db *sql.DB, s *sqlstore.Store) error {
	before, err := storageFiles(ctx, db, s)
	if err != nil {
		return err
	}
	start := time.Now()
	for {
		n, err := s.Purge(ctx, time.Now().Add(time.Hour), delivery.PurgeBatch)
		if err != nil {
			return err
		}
		if n < delivery.PurgeBatch {
			break
		}
	}
	took := time.Since(start)
	after, err := storageFiles(ctx, db, s)
	if err != nil {
		return err
	}
	fmt.Printf("    purging every attempt took %v; the files held %.1f MB before and %.1f MB after\n",
		took.Round(time.Millisecond), float64(before)/1e6, float64(after)/1e6)
	return nil
}

// storageFiles returns the bytes of s's files: SQLite's whole file, or the
// attempts and events tables with their indexes.
func storageFiles(ctx context.Context, db *sql.DB, s *sqlstore.Store) (int64, error) {
	var n int64
	var err error
	switch s.Dialect() {
	case sqlstore.SQLite:
		err = db.QueryRowContext(ctx, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&n)
	case sqlstore.Postgres:
		err = db.QueryRowContext(ctx, "SELECT pg_total_relation_size($1) + pg_total_relation_size($2)",
			s.TablePrefix()+"attempts", s.TablePrefix()+"events").Scan(&n)
	case sqlstore.MySQL:
		err = db.QueryRowContext(ctx, `SELECT SUM(data_length + index_length + data_free) FROM information_schema.tables
			WHERE table_schema = DATABASE() AND table_name IN (?, ?)`, s.TablePrefix()+"attempts", s.TablePrefix()+"events").Scan(&n)
	}
	return n, err
}

// storageRow prints the report's row of the tables with prefix, which
// hold attempts attempts, and the bytes of each table and index.
func storageRow(ctx context.Context, db *sql.DB, dialect sqlstore.Dialect, name, prefix string, attempts int64) error {
	objects, err := storageSizes(ctx, db, dialect, prefix)
	if err != nil {
		return err
	}
	var table, index int64
	for _, o := range objects {
		if o.index {
			index += o.bytes
		} else {
			table += o.bytes
		}
	}
	fmt.Printf("%-22s %10d %12.1f %12.1f %10.0f %10.0f %10.0f\n", name, attempts, float64(table)/1e6, float64(index)/1e6,
		float64(table)/float64(attempts), float64(index)/float64(attempts), float64(table+index)/float64(attempts))
	for _, o := range objects {
		kind := "table"
		if o.index {
			kind = "index"
		}
		fmt.Printf("    %-5s %-36s %10.1f MB %8.0f B/a\n", kind, strings.ReplaceAll(o.name, prefix, "{prefix}"), float64(o.bytes)/1e6,
			float64(o.bytes)/float64(attempts))
	}
	return nil
}

// storagePayload is a 1,024-byte JSON payload of random text, which no engine
// can compress much.
var storagePayload = func() []byte {
	b := make([]byte, 506)
	_, _ = rand.Read(b)
	return []byte(`{"data": "` + hex.EncodeToString(b) + `"}`)
}()

// storageFill enqueues the events numbered from first on, events of them,
// to storageFanOut endpoints each, as EnqueueMany stores them, in batches.
func storageFill(ctx context.Context, s *sqlstore.Store, base string, first, events int) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	jobs := make([]delivery.Job, 0, 50*storageFanOut)
	for i := first; i < first+events; i++ {
		for k := range storageFanOut {
			ep := "ep_" + strconv.Itoa(k)
			jobs = append(jobs, delivery.Job{Attempt: delivery.Attempt{
				ID: ulid.Make().String(), EventID: fmt.Sprintf("evt_%08d", i), EventType: "invoice.paid", EndpointID: ep,
				EndpointURL: base + "/" + ep, Status: delivery.StatusPending, AttemptNumber: 1, Trigger: delivery.TriggerFirst,
				ScheduledAt: now,
			}, Payload: storagePayload})
		}
		if len(jobs) == cap(jobs) || i == first+events-1 {
			if err := s.Insert(ctx, jobs...); err != nil {
				return err
			}
			jobs = jobs[:0]
		}
	}
	return nil
}

// storageDrain runs a worker on s until no attempt is pending, retrying a
// failed first try at once.
func storageDrain(ctx context.Context, s *sqlstore.Store, base string) error {
	client, closeIdle := loopbackClient()
	defer closeIdle()
	return drainUntil(ctx, s, &delivery.Config{
		HTTPClient:   client,
		Workers:      64,
		PerEndpoint:  64,
		PollInterval: 20 * time.Millisecond,
		// The breaker would pause an endpoint whose failures come in a
		// run; this report is about what is stored, not when.
		Breaker:        delivery.Breaker{Threshold: -1},
		LookupEndpoint: lookupAt(base),
		Retry: func(a delivery.Attempt, _ error) (time.Duration, error) {
			if a.AttemptNumber >= 2 {
				return 0, delivery.ErrRetriesExhausted
			}
			return 0, nil
		},
	}, func() (bool, error) { return nonePending(ctx, s) })
}

// storageReceiver serves the report's receiver on 127.0.0.1: it answers
// 200 with a small JSON body, and 500 to the first try of storageRetried
// of the deliveries, chosen by a hash of the event and the endpoint.
func storageReceiver() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var tried sync.Map // delivery -> true once its first try came
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("webhook-id") + r.URL.Path
		h := fnv.New32a()
		_, _ = h.Write([]byte(key))
		_, retry := tried.LoadOrStore(key, true)
		w.Header().Set("Content-Type", "application/json")
		if float64(h.Sum32()%1000) < storageRetried*1000 && !retry {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"temporarily unavailable"}`))
			return
		}
		_, _ = w.Write([]byte(`{"received":true}`))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// storageObject is the size of one table or index.
type storageObject struct {
	name  string
	index bool
	bytes int64
}

// storageSizes returns the bytes of every table and index whose name
// starts with prefix: SQLite's pages from dbstat, PostgreSQL's relation
// sizes (with TOAST, and with the dead rows that updates leave until
// autovacuum reuses their space), and InnoDB's data and index lengths
// after ANALYZE TABLE.
func storageSizes(ctx context.Context, db *sql.DB, dialect sqlstore.Dialect, prefix string) ([]storageObject, error) {
	var q string
	switch dialect {
	case sqlstore.SQLite:
		q = `SELECT s.name, m.type = 'index', SUM(s.pgsize) FROM dbstat AS s JOIN sqlite_master AS m ON m.name = s.name
			WHERE m.tbl_name LIKE ? GROUP BY s.name, m.type ORDER BY s.name`
	case sqlstore.Postgres:
		q = `SELECT c.relname, c.relkind = 'i', pg_table_size(c.oid) FROM pg_class AS c
			WHERE c.relname LIKE $1 AND c.relkind IN ('r', 'i') AND c.relnamespace = current_schema()::regnamespace ORDER BY c.relname`
	case sqlstore.MySQL:
		rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?", prefix+"%")
		if err != nil {
			return nil, err
		}
		var tables []string
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				return nil, errors.Join(err, rows.Close())
			}
			tables = append(tables, t)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
		for _, t := range tables {
			if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+t); err != nil {
				return nil, err
			}
		}
		q = `SELECT name, is_index, bytes FROM (
				SELECT table_name AS name, FALSE AS is_index, data_length AS bytes FROM information_schema.tables
				 WHERE table_schema = DATABASE() AND table_name LIKE ?
				UNION ALL
				SELECT CONCAT(table_name, '.', index_name), TRUE, stat_value * @@innodb_page_size FROM mysql.innodb_index_stats
				 WHERE database_name = DATABASE() AND table_name LIKE ? AND stat_name = 'size' AND index_name <> 'PRIMARY'
			) AS o ORDER BY name`
		return scanStorage(db.QueryContext(ctx, q, prefix+"%", prefix+"%"))
	}
	return scanStorage(db.QueryContext(ctx, q, prefix+"%"))
}

// scanStorage reads the rows of storageSizes' query.
func scanStorage(rows *sql.Rows, err error) ([]storageObject, error) {
	if err != nil {
		return nil, err
	}
	var out []storageObject
	for rows.Next() {
		var o storageObject
		if err := rows.Scan(&o.name, &o.index, &o.bytes); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		out = append(out, o)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}
