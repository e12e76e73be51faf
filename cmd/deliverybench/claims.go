package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

// claimBatch is how many attempts each claim asks for.
const claimBatch = 100

// runClaims parses the backlog sizes and runs claims.
func runClaims(pgDSN, sizes string) error {
	if pgDSN == "" {
		return fmt.Errorf("-claims needs -postgres")
	}
	var ns []int
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < claimBatch*50 {
			return fmt.Errorf("-claims: %q is not a backlog of at least %d", f, claimBatch*50)
		}
		ns = append(ns, n)
	}
	return claims(pgDSN, ns, 20000)
}

// claims measures, on PostgreSQL, what claiming costs as the backlog grows,
// and the store's claim-and-complete loop against a raw SQL one.
func claims(pgDSN string, sizes []int, loopBacklog int) error {
	db, err := openDB("pgx", pgDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()

	fmt.Printf("Claim of %d due attempts on PostgreSQL, by backlog (mean of 50 claims, each then completed)\n\n", claimBatch)
	fmt.Printf("%10s %12s %8s %10s %10s\n", "backlog", "per claim", "ratio", "seq scans", "due index")
	var first time.Duration
	for _, size := range sizes {
		s, drop, err := filledStore(ctx, db, size)
		if err != nil {
			return err
		}
		time.Sleep(1100 * time.Millisecond) // let the statistics catch up
		seq0, due0, err := scans(ctx, db, s)
		if err != nil {
			drop()
			return err
		}
		var total time.Duration
		for range 50 {
			start := time.Now()
			jobs, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "bench", Limit: claimBatch, Now: time.Now(), Until: time.Now().Add(time.Minute)})
			total += time.Since(start)
			if err != nil {
				drop()
				return err
			}
			if err := rawComplete(ctx, db, s, jobs); err != nil {
				drop()
				return err
			}
		}
		mean := total / 50
		if first == 0 {
			first = mean
		}
		time.Sleep(1100 * time.Millisecond)
		seq1, due1, err := scans(ctx, db, s)
		drop()
		if err != nil {
			return err
		}
		fmt.Printf("%10d %12v %7.2fx %10d %10d\n", size, mean.Round(time.Microsecond), float64(mean)/float64(first), seq1-seq0, due1-due0)
	}

	fmt.Printf("\nDraining %d attempts without HTTP, claims of %d on PostgreSQL\n\n", loopBacklog, claimBatch)
	fmt.Printf("%-34s %10s %7s\n", "loop", "per sec", "ratio")
	raw, err := timedDrain(ctx, db, loopBacklog, rawLoop)
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %10.0f %6.2fx\n", "raw SQL (SKIP LOCKED, bulk UPDATE)", raw, 1.0)
	store, err := timedDrain(ctx, db, loopBacklog, storeLoop)
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %10.0f %6.2fx\n", "Store.Claim + Store.Complete", store, store/raw)
	return nil
}

// filledStore returns a migrated store on db holding size due attempts
// with small payloads, written by the server itself, and what drops it.
func filledStore(ctx context.Context, db *sql.DB, size int) (*sqlstore.Store, func(), error) {
	prefix := fmt.Sprintf("claim%d_", time.Now().UnixNano()%1e9)
	st, drop, err := migrated(db, prefix, true)
	if err != nil {
		return nil, nil, err
	}
	s := st.(*sqlstore.Store)
	table := prefix + "attempts"
	// #nosec G202 G701 -- the table is the bench's own.
	_, err = db.ExecContext(ctx, `INSERT INTO `+table+` (id, event_id, event_type, endpoint_id, endpoint_url, status, attempt_number,
		triggered_by, response, response_truncated, response_status_code, error, duration_ns, scheduled_at, payload)
		SELECT lpad(i::text, 26, '0'), 'evt_' || i, 'bench', 'ep_' || (i % 10), 'https://example.com/', 2, 1,
			'first', '', false, 0, '', 0, now() - interval '1 hour' + i * interval '1 millisecond', '{}'
		FROM generate_series(1, $1::int) AS i`, size)
	if err == nil {
		_, err = db.ExecContext(ctx, "VACUUM ANALYZE "+table) // as autovacuum would soon, but not during the measurement
	}
	if err != nil {
		drop()
		return nil, nil, err
	}
	return s, func() { _, _ = db.Exec("DROP TABLE " + table + ", " + prefix + "schema_migrations") }, nil
}

// rawComplete marks jobs delivered with one statement, outside the timing.
func rawComplete(ctx context.Context, db *sql.DB, s *sqlstore.Store, jobs []delivery.Job) error {
	ids := make([]any, len(jobs))
	for i, j := range jobs {
		ids[i] = j.Attempt.ID
	}
	return markDone(ctx, db, s.TablePrefix()+"attempts", ids)
}

// markDone marks the attempts ids of table delivered, with one UPDATE.
func markDone(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, table string, ids []any) error {
	if len(ids) == 0 {
		return nil
	}
	marks := make([]string, len(ids))
	for i := range ids {
		marks[i] = "$" + strconv.Itoa(i+1)
	}
	// #nosec G202 G701 -- the table is the bench's own; the IDs are parameters.
	_, err := db.ExecContext(ctx, "UPDATE "+table+" SET status = 0, attempted_at = now(), lease_owner = NULL, lease_until = NULL WHERE id IN ("+
		strings.Join(marks, ", ")+")", ids...)
	return err
}

// scans returns how many times the table of s was read whole, and how
// often through its index of due attempts, as the server's statistics
// count them. They lag by up to a second.
func scans(ctx context.Context, db *sql.DB, s *sqlstore.Store) (seq, due int64, err error) {
	table := s.TablePrefix() + "attempts"
	err = db.QueryRowContext(ctx, `SELECT t.seq_scan, i.idx_scan FROM pg_stat_user_tables t
		JOIN pg_stat_user_indexes i ON i.relid = t.relid AND i.indexrelname = $2
		WHERE t.relname = $1`, table, table+"_due").Scan(&seq, &due)
	return seq, due, err
}

// timedDrain fills a store with n due attempts and returns how many a
// second loop drains.
func timedDrain(ctx context.Context, db *sql.DB, n int, loop func(context.Context, *sql.DB, *sqlstore.Store) error) (float64, error) {
	s, drop, err := filledStore(ctx, db, n)
	if err != nil {
		return 0, err
	}
	defer drop()
	start := time.Now()
	if err := loop(ctx, db, s); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// rawLoop drains s the way a hand-written queue would: a transaction that
// selects 100 due rows FOR UPDATE SKIP LOCKED and marks them done with one
// UPDATE, until none is left.
func rawLoop(ctx context.Context, db *sql.DB, s *sqlstore.Store) error {
	table := s.TablePrefix() + "attempts"
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		// #nosec G202 G701 -- the table is the bench's own.
		rows, err := tx.QueryContext(ctx, "SELECT id FROM "+table+" WHERE status = 2 AND scheduled_at <= now() "+
			"ORDER BY scheduled_at, id LIMIT 100 FOR UPDATE SKIP LOCKED")
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				_ = tx.Rollback()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			_ = tx.Rollback()
			return err
		}
		if len(ids) == 0 {
			return tx.Rollback()
		}
		if err := markDone(ctx, tx, table, ids); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}

// storeLoop drains s through the Store as the worker does, without HTTP:
// it claims 100, completes each from its own goroutine (the completions
// share transactions through group commit), and claims again.
func storeLoop(ctx context.Context, _ *sql.DB, s *sqlstore.Store) error {
	for {
		now := time.Now()
		jobs, err := s.Claim(ctx, delivery.ClaimRequest{Owner: "bench", Limit: claimBatch, Now: now, Until: now.Add(time.Minute)})
		if err != nil || len(jobs) == 0 {
			return err
		}
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() {
				a := j.Attempt
				a.Status, a.ResponseStatusCode, a.AttemptedAt = delivery.StatusSuccess, 204, time.Now().UTC().Truncate(time.Microsecond)
				errs[i] = s.Complete(ctx, a, nil)
			})
		}
		wg.Wait()
		if i := slices.IndexFunc(errs, func(err error) bool { return err != nil }); i >= 0 {
			return errs[i]
		}
	}
}
