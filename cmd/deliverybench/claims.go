package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
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

// loopReps is how many times each drain loop runs.
const loopReps = 3

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

	fmt.Printf("Claim of %d due attempts on PostgreSQL, by backlog and endpoints with due work (mean of 50 claims, each then completed)\n\n", claimBatch)
	fmt.Printf("%10s %10s %12s %8s %10s %12s\n", "backlog", "endpoints", "per claim", "ratio", "seq scans", "queue index")
	var first time.Duration
	for _, size := range sizes {
		for _, endpoints := range []int{10, 10000} {
			s, drop, err := filledStore(ctx, db, size, endpoints)
			if err != nil {
				return err
			}
			time.Sleep(1100 * time.Millisecond) // let the statistics catch up
			seq0, idx0, err := scans(ctx, db, s)
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
			seq1, idx1, err := scans(ctx, db, s)
			drop()
			if err != nil {
				return err
			}
			fmt.Printf("%10d %10d %12v %7.2fx %10d %12d\n", size, endpoints, mean.Round(time.Microsecond), float64(mean)/float64(first), seq1-seq0, idx1-idx0)
		}
	}

	fmt.Printf("\nDraining %d attempts without HTTP, claims of %d on PostgreSQL; median of %d runs, in turns\n\n", loopBacklog, claimBatch, loopReps)
	fmt.Printf("%-44s %10s %7s %9s\n", "loop", "per sec", "ratio", "cpu")
	loops := []struct {
		name string
		loop func(context.Context, *sql.DB, *sqlstore.Store) error
	}{
		{"raw SQL claim loop (lease, bulk UPDATE)", rawClaimLoop},
		{"Store.Claim + Store.Complete", storeLoop},
		{"worker, 100 workers, no network", workerLoop(claimBatch)},
		{"worker, 400 workers, no network", workerLoop(4 * claimBatch)},
		{"raw SQL, one transaction, no lease", lockLoop},
	}
	runs := make([][]result, len(loops))
	for rep := range loopReps {
		// Each run starts with a different loop, so that none always runs
		// on a server still busy with the one before.
		for k := range loops {
			i := (rep + k) % len(loops)
			r, err := timedDrain(ctx, db, loopBacklog, loops[i].loop)
			if err != nil {
				return err
			}
			runs[i] = append(runs[i], r)
		}
	}
	base := median(runs[0]).perSec
	for i, l := range loops {
		m := median(runs[i])
		fmt.Printf("%-44s %10.0f %6.2fx %9v\n", l.name, m.perSec, m.perSec/base, m.cpu.Round(100*time.Nanosecond))
	}
	return nil
}

// filledStore returns a migrated store on db holding size due attempts
// with small payloads, spread over the given number of endpoints, written
// by the server itself, and what drops it.
func filledStore(ctx context.Context, db *sql.DB, size, endpoints int) (*sqlstore.Store, func(), error) {
	prefix := fmt.Sprintf("claim%d_", time.Now().UnixNano()%1e9)
	st, drop, err := migrated(db, prefix, true)
	if err != nil {
		return nil, nil, err
	}
	s := st.(*sqlstore.Store)
	table := prefix + "attempts"
	// #nosec G202 G701 -- the table is the bench's own.
	_, err = db.ExecContext(ctx, `INSERT INTO `+prefix+`events (event_id, event_type, payload)
		SELECT 'evt_' || i, 'bench', '{}' FROM generate_series(1, $1::int) AS i`, size)
	if err == nil {
		// #nosec G202 G701 -- the table is the bench's own.
		_, err = db.ExecContext(ctx, `INSERT INTO `+table+` (id, event_id, event_type, endpoint_id, endpoint_url, status, attempt_number,
			triggered_by, response, response_truncated, response_status_code, error, duration_ns, scheduled_at)
			SELECT lpad(i::text, 26, '0'), 'evt_' || i, 'bench', 'ep_' || (i % $2), 'https://example.com/ep_' || (i % $2), 2, 1,
				'first', '', false, 0, '', 0, now() - interval '1 hour' + i * interval '1 millisecond'
			FROM generate_series(1, $1::int) AS i`, size, endpoints)
	}
	if err == nil {
		// Each endpoint's turn, as inserts give it.
		// #nosec G202 G701 -- the table is the bench's own.
		_, err = db.ExecContext(ctx, `INSERT INTO `+prefix+`endpoints (endpoint_id, ready_at)
			SELECT 'ep_' || e, now() - interval '1 hour' FROM generate_series(0, $1::int - 1) AS e`, endpoints)
	}
	for _, t := range []string{table, prefix + "events", prefix + "endpoints"} {
		if err == nil {
			_, err = db.ExecContext(ctx, "VACUUM ANALYZE "+t) // as autovacuum would soon, but not during the measurement
		}
	}
	if err != nil {
		drop()
		return nil, nil, err
	}
	return s, func() { _ = s.Drop(context.Background()) }, nil
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

// scans returns how many times the attempts table of s was read whole,
// and how often through its index of pending attempts by endpoint, as the
// server's statistics count them. They lag by up to a second.
func scans(ctx context.Context, db *sql.DB, s *sqlstore.Store) (seq, queue int64, err error) {
	table := s.TablePrefix() + "attempts"
	err = db.QueryRowContext(ctx, `SELECT t.seq_scan, i.idx_scan FROM pg_stat_user_tables t
		JOIN pg_stat_user_indexes i ON i.relid = t.relid AND i.indexrelname = $2
		WHERE t.relname = $1`, table, table+"_queue").Scan(&seq, &queue)
	return seq, queue, err
}

// timedDrain fills a store with n due attempts and measures a loop that
// drains it: attempts a second, and this process's CPU time an attempt.
func timedDrain(ctx context.Context, db *sql.DB, n int, loop func(context.Context, *sql.DB, *sqlstore.Store) error) (result, error) {
	s, drop, err := filledStore(ctx, db, n, 10)
	if err != nil {
		return result{}, err
	}
	defer drop()
	start, cpu := time.Now(), processCPU()
	if err := loop(ctx, db, s); err != nil {
		return result{}, err
	}
	return result{perSec: float64(n) / time.Since(start).Seconds(), cpu: (processCPU() - cpu) / time.Duration(n)}, nil
}

// lockLoop drains s with the least work a queue can do: a transaction that
// selects 100 due rows FOR UPDATE SKIP LOCKED and marks them done with one
// UPDATE, until none is left. It holds its row locks until it commits, so
// it is a lower bound, not a worker: one that sent HTTP requests would
// hold them across the requests, and a crash would leave no trace of what
// it sent.
func lockLoop(ctx context.Context, db *sql.DB, s *sqlstore.Store) error {
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

// rawClaimLoop drains s the way a hand-written webhook worker would, with
// the work that the Store does and no more: a statement that leases 100
// due rows, selected FOR UPDATE SKIP LOCKED, and returns what sending
// them needs; then one UPDATE that records every row's outcome from
// arrays, until none is left.
func rawClaimLoop(ctx context.Context, db *sql.DB, s *sqlstore.Store) error {
	table := s.TablePrefix() + "attempts"
	for {
		// #nosec G202 G701 -- the table is the bench's own.
		rows, err := db.QueryContext(ctx, "UPDATE "+table+" SET lease_owner = 'raw', lease_until = now() + interval '1 minute' "+
			"FROM (SELECT id AS c_id FROM "+table+" WHERE status = 2 AND scheduled_at <= now() AND (lease_until IS NULL OR lease_until <= now()) "+
			"ORDER BY scheduled_at, id LIMIT 100 FOR UPDATE SKIP LOCKED) AS c WHERE id = c_id "+
			"RETURNING id, event_id, event_type, endpoint_id, endpoint_url, attempt_number, "+
			"(SELECT payload FROM "+s.TablePrefix()+"events AS e WHERE e.event_id = "+table+".event_id)")
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id, event, typ, endpoint, url string
			var number int
			var payload []byte
			if err := rows.Scan(&id, &event, &typ, &endpoint, &url, &number, &payload); err != nil {
				_ = rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		codes, durations, at := make([]int32, len(ids)), make([]int64, len(ids)), make([]time.Time, len(ids))
		for i := range ids {
			codes[i], durations[i], at[i] = 204, int64(time.Millisecond), time.Now()
		}
		// #nosec G202 G701 -- the table is the bench's own.
		if _, err := db.ExecContext(ctx, "UPDATE "+table+" SET status = 0, response_status_code = u.code, attempted_at = u.at, "+
			"duration_ns = u.duration, lease_owner = NULL, lease_until = NULL "+
			"FROM unnest($1::text[], $2::integer[], $3::timestamptz[], $4::bigint[]) AS u (id, code, at, duration) "+
			"WHERE "+table+".id = u.id AND status = 2", ids, codes, at, durations); err != nil {
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

// workerLoop returns a loop that drains s with the Dispatcher's worker, of
// the given number of workers, on a transport that answers every request
// at once with 204 and no network: the worker's whole path without HTTP.
// A worker claims what its free workers can take, so the number of
// workers bounds its claims.
func workerLoop(workers int) func(context.Context, *sql.DB, *sqlstore.Store) error {
	return func(_ context.Context, _ *sql.DB, s *sqlstore.Store) error {
		return runWorkerUntilEmpty(s, &http.Client{Transport: answer204{}}, "https://example.com", workers)
	}
}

// answer204 answers every request with 204 No Content, sending nothing.
type answer204 struct{}

func (answer204) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusNoContent, Status: "204 No Content", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}
