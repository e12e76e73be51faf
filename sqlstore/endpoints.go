package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/webhookkit/delivery"
)

// endpointQueries are the statements on the endpoints table, which keeps
// each endpoint's turn in the claims and its health.
type endpointQueries struct {
	// ready, live, due, next and park are the claim's statements on SQLite
	// and MySQL; on PostgreSQL the claim function that Migrate creates
	// runs its own, and they are left empty.
	//
	// ready locks the endpoints whose turn has come, in turn order.
	ready string
	// live counts the leases that hold, per endpoint: a prefix for an IN
	// list.
	live string
	// due selects an endpoint's first due, claimable attempts; dueOne is
	// the same as one part of a UNION ALL, on MySQL.
	due, dueOne string
	// next finds the earliest schedule of an endpoint's pending attempts
	// that no lease holds: later than now, when the next one becomes due;
	// at or before now, a due attempt that the claim's locking read
	// skipped, since another transaction held its row.
	next string
	// park sets an endpoint's next turn after a claim.
	park string
	// pgClaim calls PostgreSQL's claim function.
	pgClaim string
	// upsertPrefix and upsertRow make the upsert that gives endpoints with
	// new work a turn, and upsertSuffix ends it; upsertOne is the upsert of
	// one endpoint.
	upsertPrefix, upsertRow, upsertSuffix string
	upsertOne                             string
	// outcome records completions in an endpoint's health and brings a
	// parked endpoint back, on SQLite and MySQL; pgOutcome does it for
	// many endpoints at once on PostgreSQL, where a group commit's
	// statement does it too (pgBatch).
	outcome   namedStmt
	pgOutcome string
	// pgBatch adds to the group commit's statement, on PostgreSQL, what its
	// writes change for endpoints: clauses that follow its u clause (the
	// completed attempts), with ? placeholders for pgBatchArgs. An
	// endpoint's completions count only if all of them were made. It
	// passes the values of an outcome to the upsert through the columns
	// of the new row (EXCLUDED): the row of an endpoint with completions
	// exists already, and that of one without any gets the values a new
	// row should have.
	pgBatch string
	// wakePrefix brings endpoints back after a Release: it ends with the
	// IN of a list of attempt IDs.
	wakePrefix string
	// ensure makes an endpoint's row if it has none.
	ensure                  string
	health                  string
	pause, disable, resumeQ namedStmt
}

// outcomeParams are the parameters of the outcome statements, in the
// order of endpointDelta.outcomeArgs.
var outcomeParams = []string{"id", "reset", "sched", "next", "fails", "first_fail", "has_last", "code", "error"}

// pgBatchArgs returns the arguments of the pgBatch clauses for ds, whose
// completions are of the attempts in deps, by endpoint.
func (s *Store) pgBatchArgs(ds deltas, deps map[string][]string) ([]any, error) {
	var rows, depRows [][]any
	for _, id := range slices.Sorted(maps.Keys(ds)) {
		d := ds[id]
		a := s.outcomeArgs(d)
		// outcomeArgs without has_last, which the clauses tell from the
		// code and error, then completed and the number of completions.
		rows = append(rows, append(append(a[:6:6], a[7:]...), d.completed, len(deps[id])))
		for _, attempt := range deps[id] {
			depRows = append(depRows, []any{id, attempt})
		}
	}
	args, err := pgArrays(rows, 10)
	if err != nil {
		return nil, err
	}
	depArgs, err := pgArrays(depRows, 2)
	if err != nil {
		return nil, err
	}
	return append(args, depArgs...), nil
}

// outcomeArgs returns d's values of outcomeParams.
func (s *Store) outcomeArgs(d *endpointDelta) []any {
	code, errText := 0, ""
	if d.last != nil {
		code, errText = d.last.ResponseStatusCode, d.last.Error
	}
	t := s.dialect.timeArg
	return []any{d.id, d.reset, t(d.sched), t(d.next), d.fails, t(d.firstFail), d.last != nil, code, errText}
}

// healthColumns are the endpoint columns of delivery.EndpointHealth, in
// the order scanHealth reads them.
const healthColumns = "endpoint_id, failures, failing_since, last_status_code, last_error, paused_until, cooldown_ns, disabled_at"

func newEndpointQueries(d Dialect, prefix string) endpointQueries {
	table, attempts := prefix+"endpoints", prefix+"attempts"
	col := func(c string) string { return table + "." + c }
	ready, paused, disabled, served := col("ready_at"), col("paused_until"), col("disabled_at"), col("served")
	// lower is the turn an endpoint gets when work of its own may be
	// claimed from x on (NULL: none): x, or its turn if that comes
	// earlier, but never during a pause (unless pause is false) nor while
	// it is disabled.
	lower := func(x string, pause bool) string {
		pauseCase := ""
		if pause {
			pauseCase = " WHEN " + paused + " IS NOT NULL AND " + paused + " > " + x + " THEN CASE WHEN " + ready +
				" IS NULL OR " + ready + " > " + paused + " THEN " + paused + " ELSE " + ready + " END"
		}
		return "CASE WHEN " + disabled + " IS NOT NULL OR " + x + " IS NULL THEN " + ready + pauseCase +
			" WHEN " + ready + " IS NULL OR " + ready + " > " + x + " THEN " + x + " ELSE " + ready + " END"
	}
	// unserved: a turn moved earlier is no longer one given by a claim.
	unserved := func(x string) string {
		return "CASE WHEN " + disabled + " IS NULL AND " + x + " IS NOT NULL AND (" + ready + " IS NULL OR " + ready + " > " + x +
			") THEN FALSE ELSE " + served + " END"
	}
	q := endpointQueries{
		upsertRow: "(?, ?, '')",
		ensure:    d.rebind(d.insertIgnore(table, "(endpoint_id, last_error) VALUES (?, '')")),
		health:    d.rebind("SELECT " + healthColumns + " FROM " + table + " WHERE endpoint_id = ?"),
	}
	if d == Postgres {
		q.pgClaim = "SELECT * FROM " + prefix + "claim($1, $2, $3, $4, $5)"
	} else {
		q.ready = d.rebind("SELECT endpoint_id, cooldown_ns FROM " + table + " WHERE ready_at <= ?" +
			" ORDER BY ready_at, served, endpoint_id LIMIT ?" + d.lockSkipLocked())
		q.live = "SELECT endpoint_id, COUNT(*), MIN(lease_until) FROM " + attempts + d.indexHint(attempts, "_leased") +
			" WHERE status = 2 AND lease_until > ? AND endpoint_id IN "
		// The payload is the event's; on MySQL the lock of the locking
		// read does not reach the subquery's row, so that claims of one
		// event's attempts to several endpoints do not skip each other.
		payload := "(SELECT payload FROM " + prefix + "events WHERE " + prefix + "events.event_id = " + attempts + ".event_id)"
		q.due = d.rebind("SELECT " + columns + ", " + payload + ", reclaimed OR lease_owner IS NOT NULL, trace_parent FROM " + attempts + d.indexHint(attempts, "_queue") +
			" WHERE status = 2 AND endpoint_id = ? AND scheduled_at <= ? AND (lease_until IS NULL OR lease_until <= ?)" +
			" ORDER BY scheduled_at, id LIMIT ?" + d.lockSkipLocked())
		q.dueOne = "(" + q.due + ")"
		q.next = d.rebind("SELECT MIN(scheduled_at) FROM " + attempts + d.indexHint(attempts, "_queue") +
			" WHERE status = 2 AND endpoint_id = ? AND (lease_until IS NULL OR lease_until <= ?)")
		q.park = d.rebind("UPDATE " + table + " SET ready_at = ?, served = ?, saturated = ?, parked_at = ? WHERE endpoint_id = ?")
	}
	// New work claimable from x gives an endpoint a turn from x, or moves
	// its turn earlier to x, but not before the Now of the claim that last
	// parked it (work scheduled earlier was not there to wait then), and
	// not at all when that claim left it without room (saturated): new
	// work gives it none, and it waits at its place in line for a lease
	// to end or a completion.
	parked := col("parked_at")
	newWork := func(x string) (servedExpr, readyExpr string) {
		from := "CASE WHEN " + col("saturated") + " THEN NULL WHEN " + parked + " > " + x + " THEN " + parked + " ELSE " + x + " END"
		return unserved(from), lower(from, true)
	}
	q.upsertPrefix = "INSERT INTO " + table + " (endpoint_id, ready_at, last_error) VALUES "
	excluded := "excluded.ready_at"
	if d == MySQL {
		excluded = "VALUES(ready_at)"
	}
	newServed, newReady := newWork(excluded)
	if d == MySQL {
		q.upsertSuffix = " ON DUPLICATE KEY UPDATE served = " + newServed + ", ready_at = " + newReady
	} else {
		q.upsertSuffix = " ON CONFLICT (endpoint_id) DO UPDATE SET served = " + newServed + ", ready_at = " + newReady
	}
	q.upsertOne = d.rebind(q.upsertPrefix + q.upsertRow + q.upsertSuffix)
	// A completion brings a parked endpoint back at once when it freed a
	// place (saturated), or when a success lifted a pause, with the turn
	// of the claim that parked it, behind the endpoints that were waiting
	// then; otherwise only its retry, if any, may move its turn earlier.
	// Every assignment reads the row as it was: MySQL assigns left to
	// right, so ready_at and served come before the columns they read.
	wakes := "CASE WHEN " + col("saturated") + " OR :reset AND (" + paused + " IS NOT NULL OR " + col("cooldown_ns") + " > 0)" +
		" THEN COALESCE(" + col("parked_at") + ", :sched) ELSE :next END"
	outcome := []struct{ col, expr string }{
		{"served", "CASE WHEN " + col("saturated") + " THEN TRUE ELSE " + unserved(wakes) + " END"},
		{"ready_at", "CASE WHEN :reset THEN " + lower(wakes, false) + " ELSE " + lower(wakes, true) + " END"},
		{"saturated", "FALSE"},
		{"failing_since", "CASE WHEN :fails = 0 THEN CASE WHEN :reset THEN NULL ELSE " + col("failing_since") + " END" +
			" WHEN :reset OR " + col("failures") + " = 0 THEN :first_fail ELSE " + col("failing_since") + " END"},
		{"failures", "CASE WHEN :reset THEN :fails ELSE " + col("failures") + " + :fails END"},
		{"cooldown_ns", "CASE WHEN :reset THEN 0 ELSE " + col("cooldown_ns") + " END"},
		{"paused_until", "CASE WHEN :reset THEN NULL ELSE " + paused + " END"},
		{"last_status_code", "CASE WHEN :has_last THEN :code ELSE " + col("last_status_code") + " END"},
		{"last_error", "CASE WHEN :has_last THEN :error ELSE " + col("last_error") + " END"},
	}
	var set []string
	for _, c := range outcome {
		set = append(set, c.col+" = "+c.expr)
	}
	if d != Postgres {
		// On SQLite, whose transactions run one at a time, and on MySQL, whose
		// UPDATE reads the newest row under its lock, the update may skip an
		// endpoint whose health and turn it would leave as they are (the
		// common case: a success on a healthy endpoint), since a claim that
		// parks the endpoint commits before it looks. On PostgreSQL an UPDATE
		// skips a row by its snapshot, without waiting for the claim that is
		// parking it, so it always writes.
		changes := " AND (saturated OR :fails > 0 OR failures > 0 OR paused_until IS NOT NULL OR cooldown_ns > 0" +
			" OR :has_last AND (last_status_code <> :code OR last_error <> :error)" +
			" OR :next IS NOT NULL AND disabled_at IS NULL AND (ready_at IS NULL OR ready_at > :next))"
		q.outcome = d.named("UPDATE "+table+" SET "+strings.Join(set, ", ")+" WHERE endpoint_id = :id"+changes, map[string]string{
			"reset": pBool, "sched": pTime, "next": pTime, "fails": pInt, "first_fail": pTime,
			"has_last": pBool, "code": pInt, "error": pText, "id": pText,
		})
	} else {
		// All the endpoints of a group commit in one statement, their
		// values a column each.
		q.pgOutcome = "UPDATE " + table + " SET " + paramName.ReplaceAllString(strings.Join(set, ", "), "v.$1") +
			" FROM unnest($1::varchar[], $2::boolean[], $3::timestamptz[], $4::timestamptz[], $5::integer[], $6::timestamptz[]," +
			" $7::boolean[], $8::integer[], $9::text[]) AS v(" + strings.Join(outcomeParams, ", ") + ") WHERE endpoint_id = v.id"
		// The same, and the upsert of new work, as clauses of the group
		// commit's statement (see pgBatch).
		excluded := strings.NewReplacer(":reset", "EXCLUDED.served", ":sched", "EXCLUDED.parked_at", ":next", "EXCLUDED.ready_at",
			":fails", "EXCLUDED.failures", ":first_fail", "EXCLUDED.failing_since",
			":has_last", "(EXCLUDED.last_status_code <> 0 OR EXCLUDED.last_error <> '')",
			":code", "EXCLUDED.last_status_code", ":error", "EXCLUDED.last_error")
		newServed, newReady := newWork("EXCLUDED.ready_at")
		upsert := map[string]string{"served": newServed, "ready_at": newReady}
		var both []string
		for _, c := range outcome {
			otherwise, ok := upsert[c.col]
			if !ok {
				otherwise = col(c.col)
			}
			both = append(both, c.col+" = CASE WHEN EXCLUDED.saturated THEN "+excluded.Replace(c.expr)+" ELSE "+otherwise+" END")
		}
		q.pgBatch = ", d AS (SELECT * FROM unnest(?::varchar[], ?::boolean[], ?::timestamptz[], ?::timestamptz[], ?::integer[], ?::timestamptz[]," +
			" ?::integer[], ?::text[], ?::boolean[], ?::integer[]) AS d(id, reset, sched, next, fails, first_fail, code, error, completed, deps))," +
			" dep AS (SELECT * FROM unnest(?::varchar[], ?::varchar[]) AS dep(endpoint_id, attempt_id))," +
			" e AS (INSERT INTO " + table + " (endpoint_id, ready_at, served, saturated, failures, failing_since, last_status_code, last_error, parked_at)" +
			" SELECT id, next, reset, completed, fails, first_fail, code, error, sched FROM d" +
			" WHERE deps = (SELECT count(*) FROM dep JOIN u ON u.id = dep.attempt_id WHERE dep.endpoint_id = d.id) ORDER BY id" +
			" ON CONFLICT (endpoint_id) DO UPDATE SET " + strings.Join(both, ", ") + ")"
	}
	since := "COALESCE(" + col("parked_at") + ", (SELECT MIN(scheduled_at) FROM " + attempts + " WHERE status = 2 AND endpoint_id = " + col("endpoint_id") + "))"
	q.wakePrefix = "UPDATE " + table + " SET served = TRUE, ready_at = " + lower(since, true) + ", saturated = FALSE" +
		" WHERE endpoint_id IN (SELECT endpoint_id FROM " + attempts + " WHERE id IN "
	q.pause = d.named("UPDATE "+table+" SET ready_at = CASE WHEN ready_at IS NULL OR disabled_at IS NOT NULL OR ready_at >= :until THEN ready_at ELSE :until END"+
		", served = FALSE"+
		", paused_until = CASE WHEN paused_until IS NULL OR paused_until < :until THEN :until ELSE paused_until END"+
		", cooldown_ns = CASE WHEN :cooldown > 0 THEN :cooldown ELSE cooldown_ns END"+
		" WHERE endpoint_id = :id", map[string]string{"until": pTime, "cooldown": pInt, "id": pText})
	q.disable = d.named("UPDATE "+table+" SET ready_at = NULL, disabled_at = :at WHERE endpoint_id = :id AND disabled_at IS NULL",
		map[string]string{"at": pTime, "id": pText})
	q.resumeQ = d.named("UPDATE "+table+" SET ready_at = (SELECT MIN(scheduled_at) FROM "+attempts+" WHERE status = 2 AND endpoint_id = :id)"+
		", served = FALSE, saturated = FALSE, failures = 0, failing_since = NULL, paused_until = NULL, cooldown_ns = 0, disabled_at = NULL"+
		" WHERE endpoint_id = :id", map[string]string{"id": pText})
	return q
}

// indexHint names the index of table, by its suffix, that a claim or the
// queue stats must use: on SQLite, whose planner, without statistics, may
// pick another and read an endpoint's whole backlog; and on MySQL, whose
// estimates for an index that leads with the status, a column of four
// values, change with every ANALYZE, so that it may take another index
// that leads with the status too and read it whole.
func (d Dialect) indexHint(table, suffix string) string {
	switch d {
	case SQLite:
		return " INDEXED BY " + table + suffix
	case MySQL:
		return " FORCE INDEX (" + table + suffix + ")"
	}
	return ""
}

// insertIgnore returns an INSERT into table of rest that does nothing when
// the row exists.
func (d Dialect) insertIgnore(table, rest string) string {
	if d == MySQL {
		return "INSERT IGNORE INTO " + table + " " + rest
	}
	return "INSERT INTO " + table + " " + rest + " ON CONFLICT DO NOTHING"
}

// endpointDelta is what writes to the attempts table change for one
// endpoint: new work that needs a turn, and completions that change its
// health and may bring it back.
type endpointDelta struct {
	id string
	// next is the earliest time new work of the endpoint may be claimed,
	// or zero.
	next time.Time
	// completed is set when an attempt of the endpoint was completed.
	completed bool
	// reset is set when one of them succeeded; fails counts the failures
	// after the last success (or all of them), the first at firstFail.
	reset     bool
	fails     int
	firstFail time.Time
	// last is the latest of them that succeeded or failed.
	last *delivery.Attempt
	// sched is the earliest schedule of the completed attempts: the
	// endpoint had work claimable since then.
	sched time.Time
}

// deltas gathers endpointDeltas, in the order of their endpoints' IDs, so
// that every write locks endpoint rows in one order.
type deltas map[string]*endpointDelta

func (ds deltas) of(id string) *endpointDelta {
	d := ds[id]
	if d == nil {
		d = &endpointDelta{id: id}
		ds[id] = d
	}
	return d
}

// work notes new pending work of j's endpoint: claimable from its
// schedule, or, leased, from the end of its lease.
func (ds deltas) work(j delivery.Job) {
	at := j.Attempt.ScheduledAt
	if j.Lease.Owner != "" && j.Lease.Until.After(at) {
		at = j.Lease.Until
	}
	d := ds.of(j.Attempt.EndpointID)
	if d.next.IsZero() || at.Before(d.next) {
		d.next = at
	}
}

// done notes the completion of final, an attempt of endpointID, as
// delivery.EndpointHealth.Record counts it.
func (ds deltas) done(endpointID string, final delivery.Attempt) {
	d := ds.of(endpointID)
	d.completed = true
	if d.sched.IsZero() || final.ScheduledAt.Before(d.sched) {
		d.sched = final.ScheduledAt
	}
	switch {
	case final.Status == delivery.StatusSuccess:
		d.reset, d.fails, d.firstFail = true, 0, time.Time{}
	case final.Status == delivery.StatusFailure && !final.AttemptedAt.IsZero():
		if d.fails == 0 {
			d.firstFail = final.AttemptedAt
		}
		d.fails++
	default:
		return
	}
	d.last = &final
}

// applyDeltas writes ds on q, in endpoint order: an upsert for endpoints with
// only new work, an update for those with completions.
func (s *Store) applyDeltas(ctx context.Context, q querier, ds deltas) error {
	if len(ds) == 0 {
		return nil
	}
	q = s.stmts.on(q)
	ids := make([]string, 0, len(ds))
	for id := range ds {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var upsert []any
	var outcomes [][]any
	for _, id := range ids {
		d := ds[id]
		if !d.completed {
			upsert = append(upsert, id, s.dialect.timeArg(d.next))
			continue
		}
		args := s.outcomeArgs(d)
		if s.dialect == Postgres {
			outcomes = append(outcomes, args)
			continue
		}
		v := make(map[string]any, len(args))
		for i, name := range outcomeParams {
			v[name] = args[i]
		}
		if _, err := q.ExecContext(ctx, s.eq.outcome.query, s.eq.outcome.args(v)...); err != nil {
			return fmt.Errorf("sqlstore: endpoint %s: %w", id, err)
		}
	}
	if len(outcomes) > 0 {
		args, err := pgArrays(outcomes, len(outcomeParams))
		if err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, s.eq.pgOutcome, args...); err != nil {
			return fmt.Errorf("sqlstore: endpoints: %w", err)
		}
	}
	return s.flushUpsert(ctx, q, upsert)
}

// flushUpsert runs the upsert of args, pairs of endpoint ID and time.
func (s *Store) flushUpsert(ctx context.Context, q querier, args []any) error {
	if len(args) == 0 {
		return nil
	}
	query := s.eq.upsertOne
	if len(args) > 2 {
		query = s.dialect.rebind(s.eq.upsertPrefix + strings.Repeat(s.eq.upsertRow+", ", len(args)/2-1) + s.eq.upsertRow + s.eq.upsertSuffix)
	}
	if _, err := q.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("sqlstore: endpoints: %w", err)
	}
	return nil
}

// Claim implements delivery.Store. It locks the endpoints whose turn has
// come (FOR UPDATE SKIP LOCKED, so that concurrent claimers share them
// out), counts each one's leases in a later statement, which sees every
// claim committed before the lock was granted, leases each one's due
// attempts up to its room, going round them one at a time (on SQLite:
// each in one piece, in turn), and gives each endpoint it served its next
// turn. An endpoint with no room is parked until a completion or the end
// of a lease brings it back. On PostgreSQL all of it is one call of the
// claim function that Migrate creates, so that a claim costs one round
// trip; on SQLite it runs in the group commit's transaction.
func (s *Store) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	if err := checkText("lease owner", req.Owner, maxNameChars); err != nil {
		return nil, err
	}
	s.stmts.prepareAll(ctx)
	var jobs []delivery.Job
	err := retryDeadlocks(ctx, func() (err error) {
		if s.dialect == SQLite {
			// SQLite runs one transaction at a time: a claim shares the
			// group commit's, which saves a commit. It waits for that
			// transaction even when ctx ends, so that what it leased for
			// a caller who has gone is given back, not left leased until
			// the lease ends, when the next claim would take it for an
			// attempt that may have been sent.
			w := &write{claim: &req, claimCtx: ctx}
			if err = s.commits.do(context.WithoutCancel(ctx), w); err != nil {
				return err
			}
			if err = ctx.Err(); err != nil {
				if len(w.claimed) > 0 {
					if rerr := s.Release(context.WithoutCancel(ctx), req.Owner, jobIDs(w.claimed)...); rerr != nil {
						return errors.Join(err, rerr)
					}
				}
				return err
			}
			jobs = w.claimed
			return nil
		}
		if s.dialect == Postgres {
			jobs, err = s.pgClaim(ctx, req)
			return err
		}
		tx, err := s.db.BeginTx(ctx, s.dialect.claimTxOptions())
		if err != nil {
			return fmt.Errorf("sqlstore: begin: %w", err)
		}
		if jobs, err = s.claimIn(ctx, tx, req); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlstore: commit: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(jobs, func(a, b delivery.Job) int {
		if c := a.Attempt.ScheduledAt.Compare(b.Attempt.ScheduledAt); c != 0 {
			return c
		}
		return strings.Compare(a.Attempt.ID, b.Attempt.ID)
	})
	if jobs == nil {
		jobs = []delivery.Job{}
	}
	return jobs, nil
}

// pgClaim runs a claim with PostgreSQL's claim function.
func (s *Store) pgClaim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	rows, err := s.db.QueryContext(ctx, s.eq.pgClaim, req.Owner, req.Now.UTC(), req.Until.UTC(), req.Limit, req.PerEndpoint)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim: %w", err)
	}
	defer rows.Close()
	var jobs []delivery.Job
	for rows.Next() {
		j := delivery.Job{Lease: delivery.Lease{Owner: req.Owner, Until: req.Until.UTC()}}
		if j.Attempt, err = scanAttempt(rows, &j.Payload, &j.Reclaimed, &j.Probe, &j.TraceParent); err != nil {
			return nil, fmt.Errorf("sqlstore: claim: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: claim: %w", err)
	}
	return jobs, nil
}

// claimTxOptions are the options of a claim's transaction: on MySQL, READ
// COMMITTED, so that the lease count after the lock reads what committed
// since the transaction began (REPEATABLE READ would read its first
// snapshot), and InnoDB takes no gap locks.
func (d Dialect) claimTxOptions() *sql.TxOptions {
	if d == MySQL {
		return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return nil
}

// turn is one endpoint served by a claim.
type turn struct {
	id    string
	probe bool
	// limit is how many of its attempts may be leased at once, or 0 for
	// no limit; live is how many are, the earliest ending at liveUntil.
	limit, live int
	liveUntil   time.Time
	// quota is how many the claim takes at most, jobs what it took.
	quota int
	jobs  []delivery.Job
	// readyAt, served and saturated are its next turn.
	readyAt           time.Time
	served, saturated bool
}

// room returns how many more attempts of t may be leased, or -1 for no
// limit.
func (t *turn) room() int {
	if t.limit == 0 {
		return -1
	}
	return max(t.limit-t.live, 0)
}

// claimIn runs a claim in tx.
func (s *Store) claimIn(ctx context.Context, tx *sql.Tx, req delivery.ClaimRequest) ([]delivery.Job, error) {
	d := s.dialect
	q := s.stmts.on(tx)
	now := d.timeArg(req.Now)
	turns, err := s.readyEndpoints(ctx, q, req)
	if err != nil || len(turns) == 0 {
		return nil, err
	}
	if err := s.countLeases(ctx, q, turns, now); err != nil {
		return nil, err
	}
	var jobs []delivery.Job
	if d == SQLite {
		turns, jobs, err = s.claimInPieces(ctx, q, turns, req)
	} else {
		shareOut(turns, req.Limit)
		jobs, err = s.claimEach(ctx, q, turns, req)
	}
	if err != nil {
		return nil, err
	}
	if err := s.lease(ctx, q, jobs, req); err != nil {
		return nil, err
	}
	for _, t := range turns {
		if err := s.nextTurn(ctx, q, t, req); err != nil {
			return nil, err
		}
	}
	switch {
	case len(turns) == 1:
		for _, t := range turns {
			if _, err = q.ExecContext(ctx, s.eq.park, d.timeArg(t.readyAt), t.served, t.saturated, now, t.id); err != nil {
				break
			}
		}
	default:
		err = s.parkAll(ctx, q, turns, now)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim: %w", err)
	}
	return jobs, nil
}

// shareOut gives turns their quotas: Limit shared out one attempt at a
// time, as far as each room allows.
func shareOut(turns []*turn, limit int) {
	for left, more := limit, true; left > 0 && more; {
		more = false
		for _, t := range turns {
			if left > 0 && (t.room() < 0 || t.quota < t.room()) {
				t.quota++
				left--
				more = true
			}
		}
	}
}

// claimInPieces selects, on SQLite, each turn's due attempts in one piece,
// up to its room, in turn, until Limit is reached, and returns the turns
// it reached, which are the ones to park, and the attempts. A completion batch then holds a few endpoints' attempts, not
// one of each of many, and changes fewer pages of the indexes in endpoint
// order. The endpoints after those are left as they are, at the head of
// the line.
func (s *Store) claimInPieces(ctx context.Context, q querier, turns []*turn, req delivery.ClaimRequest) ([]*turn, []delivery.Job, error) {
	now := s.dialect.timeArg(req.Now)
	var jobs []delivery.Job
	left := req.Limit
	for i, t := range turns {
		if left == 0 {
			return turns[:i], jobs, nil
		}
		t.quota = left
		if r := t.room(); r >= 0 {
			t.quota = min(r, left)
		}
		if t.quota == 0 {
			continue
		}
		var err error
		if t.jobs, err = s.claimed(ctx, q, req, s.eq.due, t.id, now, now, t.quota); err != nil {
			return nil, nil, err
		}
		for j := range t.jobs {
			t.jobs[j].Probe = t.probe
		}
		jobs = append(jobs, t.jobs...)
		left -= len(t.jobs)
	}
	return turns, jobs, nil
}

// claimEach selects, on MySQL, each turn's due attempts up to its quota,
// with one statement, a UNION ALL of the statement of one endpoint, to
// save round trips.
func (s *Store) claimEach(ctx context.Context, q querier, turns []*turn, req delivery.ClaimRequest) ([]delivery.Job, error) {
	now := s.dialect.timeArg(req.Now)
	var args [][]any
	for _, t := range turns {
		if t.quota > 0 {
			args = append(args, []any{t.id, now, now, t.quota})
		}
	}
	if len(args) == 0 {
		return nil, nil
	}
	query := s.eq.due
	if len(args) > 1 {
		query = strings.Repeat(s.eq.dueOne+" UNION ALL ", len(args)-1) + s.eq.dueOne
	}
	jobs, err := s.claimed(ctx, q, req, query, slices.Concat(args...)...)
	if err != nil {
		return nil, err
	}
	byID := turnsByID(turns)
	for i := range jobs {
		t := byID[jobs[i].Attempt.EndpointID]
		jobs[i].Probe = t.probe
		t.jobs = append(t.jobs, jobs[i])
	}
	return jobs, nil
}

// lease leases the claimed jobs to req's owner.
func (s *Store) lease(ctx context.Context, q querier, jobs []delivery.Job, req delivery.ClaimRequest) error {
	d := s.dialect
	ids := make([]any, len(jobs))
	for i, j := range jobs {
		ids[i] = j.Attempt.ID
	}
	for chunk := range slices.Chunk(ids, insertBatch) {
		args := append([]any{req.Owner, d.timeArg(req.Until)}, chunk...)
		query := d.rebind(s.q.claimUpdatePrefix + placeholders(len(chunk)))
		s.stmts.wish(query)
		if _, err := q.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("sqlstore: claim: %w", err)
		}
	}
	return nil
}

// parkAll gives turns their next turns, with one statement.
func (s *Store) parkAll(ctx context.Context, q querier, turns []*turn, now any) error {
	var readyAt, served, saturated strings.Builder
	var args [3][]any
	ids := make([]any, len(turns))
	for i, t := range turns {
		for _, b := range []*strings.Builder{&readyAt, &served, &saturated} {
			b.WriteString(" WHEN ? THEN ?")
		}
		args[0] = append(args[0], t.id, s.dialect.timeArg(t.readyAt))
		args[1] = append(args[1], t.id, t.served)
		args[2] = append(args[2], t.id, t.saturated)
		ids[i] = t.id
	}
	query := "UPDATE " + s.prefix + "endpoints SET ready_at = CASE endpoint_id" + readyAt.String() + " END" +
		", served = CASE endpoint_id" + served.String() + " END, saturated = CASE endpoint_id" + saturated.String() + " END" +
		", parked_at = ? WHERE endpoint_id IN " + placeholders(len(turns))
	all := append(append(append(args[0], args[1]...), args[2]...), now)
	query = s.dialect.rebind(query)
	s.stmts.wish(query)
	_, err := q.ExecContext(ctx, query, append(all, ids...)...)
	return err
}

// turnsByID returns turns by their endpoint IDs.
func turnsByID(turns []*turn) map[string]*turn {
	byID := make(map[string]*turn, len(turns))
	for _, t := range turns {
		byID[t.id] = t
	}
	return byID
}

// readyEndpoints locks the endpoints whose turn has come, at most
// req.Limit of them, since each one served takes an attempt.
func (s *Store) readyEndpoints(ctx context.Context, q querier, req delivery.ClaimRequest) ([]*turn, error) {
	rows, err := q.QueryContext(ctx, s.eq.ready, s.dialect.timeArg(req.Now), req.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim: %w", err)
	}
	defer rows.Close()
	var turns []*turn
	for rows.Next() {
		t := &turn{limit: req.PerEndpoint}
		var cooldown int64
		if err := rows.Scan(&t.id, &cooldown); err != nil {
			return nil, fmt.Errorf("sqlstore: claim: %w", err)
		}
		if cooldown > 0 {
			t.probe, t.limit = true, 1 // half-open: one probe at a time
		}
		turns = append(turns, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: claim: %w", err)
	}
	return turns, nil
}

// countLeases counts the leases of turns that hold at now.
func (s *Store) countLeases(ctx context.Context, q querier, turns []*turn, now any) error {
	byID := turnsByID(turns)
	args := []any{now}
	for _, t := range turns {
		args = append(args, t.id)
	}
	query := s.dialect.rebind(s.eq.live + placeholders(len(turns)) + " GROUP BY endpoint_id")
	s.stmts.wish(query)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: claim: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		var until dbTime
		if err := rows.Scan(&id, &n, &until); err != nil {
			return fmt.Errorf("sqlstore: claim: %w", err)
		}
		if t := byID[id]; t != nil {
			t.live, t.liveUntil = n, until.t
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: claim: %w", err)
	}
	return nil
}

// nextTurn works out t's next turn after the claim: behind every
// endpoint waiting now when it may have more due work and room; when its
// first lease ends, or a completion frees a place, when it has no room; or
// when its next attempt becomes due (or a lease ends), or never, when it
// has none due.
func (s *Store) nextTurn(ctx context.Context, q querier, t *turn, req delivery.ClaimRequest) error {
	took := len(t.jobs)
	if took > 0 && (t.liveUntil.IsZero() || req.Until.Before(t.liveUntil)) {
		t.liveUntil = req.Until
	}
	t.live += took
	switch {
	case t.room() == 0:
		t.readyAt, t.served, t.saturated = t.liveUntil, took > 0, true
		return nil
	case took == t.quota && took > 0:
		t.readyAt, t.served = req.Now, true
		return nil
	}
	var next dbTime
	if err := q.QueryRowContext(ctx, s.eq.next, t.id, s.dialect.timeArg(req.Now)).Scan(&next); err != nil {
		return fmt.Errorf("sqlstore: claim: %w", err)
	}
	if !next.t.IsZero() && !next.t.After(req.Now) {
		// Due work the claim did not take: its locking read skipped a
		// row another transaction held. On MySQL that can be a
		// neighbour's claim, whose read of its own endpoint's range
		// locks the first row past it for a moment. The endpoint keeps
		// its turn, behind the others, as if it had used its quota.
		t.readyAt, t.served = req.Now, true
		return nil
	}
	t.readyAt = next.t
	if !t.liveUntil.IsZero() && (t.readyAt.IsZero() || t.liveUntil.Before(t.readyAt)) {
		t.readyAt = t.liveUntil
	}
	return nil
}

// scanHealth reads the healthColumns.
func scanHealth(sc scanner) (delivery.EndpointHealth, error) {
	var h delivery.EndpointHealth
	var since, paused, disabled dbTime
	var cooldown int64
	err := sc.Scan(&h.EndpointID, &h.Failures, &since, &h.LastStatusCode, &h.LastError, &paused, &cooldown, &disabled)
	h.FailingSince, h.PausedUntil, h.DisabledAt = since.t, paused.t, disabled.t
	h.Cooldown = time.Duration(cooldown)
	return h, err
}

var _ delivery.HealthStore = (*Store)(nil)

// Health implements delivery.HealthStore.
func (s *Store) Health(ctx context.Context, endpointID string) (delivery.EndpointHealth, error) {
	h, err := scanHealth(s.db.QueryRowContext(ctx, s.eq.health, endpointID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return delivery.EndpointHealth{EndpointID: endpointID}, nil
	case err != nil:
		return delivery.EndpointHealth{}, fmt.Errorf("sqlstore: health of %s: %w", endpointID, err)
	}
	return h, nil
}

// Pause implements delivery.HealthStore.
func (s *Store) Pause(ctx context.Context, req delivery.PauseRequest) (delivery.EndpointHealth, error) {
	if err := req.Validate(); err != nil {
		return delivery.EndpointHealth{}, fmt.Errorf("sqlstore: %w", err)
	}
	if err := checkText("endpoint ID", req.EndpointID, maxNameChars); err != nil {
		return delivery.EndpointHealth{}, err
	}
	var h delivery.EndpointHealth
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.ensureEndpoint(ctx, tx, req.EndpointID); err != nil {
			return err
		}
		v := map[string]any{"until": s.dialect.timeArg(req.Until), "cooldown": int64(req.Cooldown), "id": req.EndpointID}
		if _, err := tx.ExecContext(ctx, s.eq.pause.query, s.eq.pause.args(v)...); err != nil {
			return fmt.Errorf("sqlstore: pause %s: %w", req.EndpointID, err)
		}
		var err error
		if h, err = scanHealth(tx.QueryRowContext(ctx, s.eq.health, req.EndpointID)); err != nil {
			return fmt.Errorf("sqlstore: pause %s: %w", req.EndpointID, err)
		}
		return nil
	})
	return h, err
}

// Disable implements delivery.HealthStore.
func (s *Store) Disable(ctx context.Context, endpointID string, at time.Time) (bool, error) {
	if endpointID == "" {
		return false, fmt.Errorf("sqlstore: disable needs an endpoint ID: %w", delivery.ErrInvalidInput)
	}
	if err := checkText("endpoint ID", endpointID, maxNameChars); err != nil {
		return false, err
	}
	var changed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.ensureEndpoint(ctx, tx, endpointID); err != nil {
			return err
		}
		v := map[string]any{"at": s.dialect.timeArg(at), "id": endpointID}
		res, err := tx.ExecContext(ctx, s.eq.disable.query, s.eq.disable.args(v)...)
		if err != nil {
			return fmt.Errorf("sqlstore: disable %s: %w", endpointID, err)
		}
		n, err := res.RowsAffected()
		changed = n == 1
		return err
	})
	return changed, err
}

// Resume implements delivery.HealthStore.
func (s *Store) Resume(ctx context.Context, endpointID string) error {
	v := map[string]any{"id": endpointID}
	err := retryDeadlocks(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.eq.resumeQ.query, s.eq.resumeQ.args(v)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: resume %s: %w", endpointID, err)
	}
	return nil
}

// ensureEndpoint makes the endpoint's row if it has none.
func (s *Store) ensureEndpoint(ctx context.Context, tx *sql.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, s.eq.ensure, id); err != nil {
		return fmt.Errorf("sqlstore: endpoint %s: %w", id, err)
	}
	return nil
}

// wake brings the endpoints of the attempts ids back into the line, from
// the claim that parked them, or the earliest schedule of their pending
// attempts if no claim did.
func (s *Store) wake(ctx context.Context, q querier, ids []string) error {
	types := map[string]string{}
	v := map[string]any{}
	names := make([]string, len(ids))
	for i, id := range ids {
		name := fmt.Sprintf("id%d", i)
		names[i], types[name], v[name] = ":"+name, pText, id
	}
	st := s.dialect.named(s.eq.wakePrefix+"("+strings.Join(names, ", ")+"))", types)
	if _, err := q.ExecContext(ctx, st.query, st.args(v)...); err != nil {
		return fmt.Errorf("sqlstore: release: %w", err)
	}
	return nil
}
