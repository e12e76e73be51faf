package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/webhookkit/delivery"
)

// endpointQueries are the statements on the endpoints table, which keeps
// each endpoint's turn in the claims and its health.
type endpointQueries struct {
	// ready locks the endpoints whose turn has come, in turn order.
	ready string
	// live counts the leases that hold, per endpoint: a prefix for an IN
	// list.
	live string
	// due selects an endpoint's first due, claimable attempts.
	due string
	// next finds when an endpoint's next claimable attempt becomes due.
	next string
	// park sets an endpoint's next turn after a claim.
	park string
	// upsertPrefix and upsertRow make the upsert that gives endpoints with
	// new work a turn, and upsertSuffix ends it.
	upsertPrefix, upsertRow, upsertSuffix string
	// outcome records completions in an endpoint's health and brings a
	// parked endpoint back.
	outcome namedStmt
	// wakePrefix brings endpoints back after a Release: it ends with the
	// IN of a list of attempt IDs.
	wakePrefix string
	// ensure makes an endpoint's row if it has none.
	ensure                  string
	health                  string
	pause, disable, resumeQ namedStmt
}

// healthColumns are the endpoint columns of delivery.EndpointHealth, in
// the order scanHealth reads them.
const healthColumns = "endpoint_id, failures, failing_since, last_status_code, last_error, last_attempt_at, paused_until, cooldown_ns, disabled_at"

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
		ready: d.rebind("SELECT endpoint_id, cooldown_ns FROM " + table + " WHERE ready_at <= ?" +
			" ORDER BY ready_at, served, endpoint_id LIMIT ?" + d.lockSkipLocked()),
		live: "SELECT endpoint_id, COUNT(*), MIN(lease_until) FROM " + attempts +
			" WHERE status = 2 AND lease_until > ? AND endpoint_id IN ",
		due: d.rebind("SELECT " + columns + ", payload, reclaimed OR lease_owner IS NOT NULL FROM " + attempts + d.queueIndexHint(attempts) +
			" WHERE status = 2 AND endpoint_id = ? AND scheduled_at <= ? AND (lease_until IS NULL OR lease_until <= ?)" +
			" ORDER BY scheduled_at, id LIMIT ?" + d.lockSkipLocked()),
		next: d.rebind("SELECT MIN(scheduled_at) FROM " + attempts + d.queueIndexHint(attempts) +
			" WHERE status = 2 AND endpoint_id = ? AND scheduled_at > ? AND (lease_until IS NULL OR lease_until <= ?)"),
		park:      d.rebind("UPDATE " + table + " SET ready_at = ?, served = ?, saturated = ?, parked_at = ? WHERE endpoint_id = ?"),
		upsertRow: "(?, ?, '')",
		ensure:    d.rebind(d.insertIgnore(table, "(endpoint_id, last_error) VALUES (?, '')")),
		health:    d.rebind("SELECT " + healthColumns + " FROM " + table + " WHERE endpoint_id = ?"),
	}
	q.upsertPrefix = "INSERT INTO " + table + " (endpoint_id, ready_at, last_error) VALUES "
	excluded := "excluded.ready_at"
	if d == MySQL {
		excluded = "VALUES(ready_at)"
		q.upsertSuffix = " ON DUPLICATE KEY UPDATE served = " + unserved(excluded) + ", ready_at = " + lower(excluded, true)
	} else {
		q.upsertSuffix = " ON CONFLICT (endpoint_id) DO UPDATE SET served = " + unserved(excluded) + ", ready_at = " + lower(excluded, true)
	}
	// A completion brings a parked endpoint back at once when it freed a
	// place (saturated), or when a success lifted a pause; otherwise only
	// its retry, if any, may move its turn earlier. Every assignment reads
	// the row as it was: MySQL assigns left to right, so ready_at and
	// served come before the columns they read.
	// A parked endpoint comes back with the turn of the claim that parked
	// it, behind the endpoints that were waiting then.
	wakes := "CASE WHEN " + col("saturated") + " OR :reset AND (" + paused + " IS NOT NULL OR " + col("cooldown_ns") + " > 0)" +
		" THEN COALESCE(" + col("parked_at") + ", :sched) ELSE :next END"
	q.outcome = d.named("UPDATE "+table+" SET served = CASE WHEN "+col("saturated")+" THEN TRUE ELSE "+unserved(wakes)+" END"+
		", ready_at = CASE WHEN :reset THEN "+lower(wakes, false)+" ELSE "+lower(wakes, true)+" END"+
		", saturated = FALSE"+
		", failing_since = CASE WHEN :fails = 0 THEN CASE WHEN :reset THEN NULL ELSE failing_since END"+
		" WHEN :reset OR failures = 0 THEN :first_fail ELSE failing_since END"+
		", failures = CASE WHEN :reset THEN :fails ELSE failures + :fails END"+
		", cooldown_ns = CASE WHEN :reset THEN 0 ELSE cooldown_ns END"+
		", paused_until = CASE WHEN :reset THEN NULL ELSE paused_until END"+
		", last_status_code = CASE WHEN :has_last THEN :code ELSE last_status_code END"+
		", last_error = CASE WHEN :has_last THEN :error ELSE last_error END"+
		", last_attempt_at = CASE WHEN :has_last THEN :at ELSE last_attempt_at END"+
		" WHERE endpoint_id = :id", map[string]string{
		"reset": pBool, "sched": pTime, "next": pTime, "fails": pInt, "first_fail": pTime,
		"has_last": pBool, "code": pInt, "error": pText, "at": pTime, "id": pText,
	})
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

// queueIndexHint names the index of an endpoint's pending attempts for
// SQLite, whose planner, without statistics, may pick another.
func (d Dialect) queueIndexHint(table string) string {
	if d == SQLite {
		return " INDEXED BY " + table + "_queue"
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

// apply writes ds on q, in endpoint order: an upsert for endpoints with
// only new work, an update for those with completions.
func (s *Store) applyDeltas(ctx context.Context, q querier, ds deltas) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]string, 0, len(ds))
	for id := range ds {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var upsert []any
	for _, id := range ids {
		d := ds[id]
		if !d.completed {
			upsert = append(upsert, id, s.dialect.timeArg(d.next))
			continue
		}
		if err := s.flushUpsert(ctx, q, upsert); err != nil {
			return err
		}
		upsert = nil
		v := map[string]any{
			"reset": d.reset, "sched": s.dialect.timeArg(d.sched), "next": s.dialect.timeArg(d.next),
			"fails": d.fails, "first_fail": s.dialect.timeArg(d.firstFail), "has_last": d.last != nil,
			"code": 0, "error": "", "at": nil, "id": id,
		}
		if d.last != nil {
			v["code"], v["error"], v["at"] = d.last.ResponseStatusCode, d.last.Error, s.dialect.timeArg(d.last.AttemptedAt)
		}
		if _, err := q.ExecContext(ctx, s.eq.outcome.query, s.eq.outcome.args(v)...); err != nil {
			return fmt.Errorf("sqlstore: endpoint %s: %w", id, err)
		}
	}
	return s.flushUpsert(ctx, q, upsert)
}

// flushUpsert runs the upsert of args, pairs of endpoint ID and time.
func (s *Store) flushUpsert(ctx context.Context, q querier, args []any) error {
	if len(args) == 0 {
		return nil
	}
	query := s.eq.upsertPrefix + strings.Repeat(s.eq.upsertRow+", ", len(args)/2-1) + s.eq.upsertRow + s.eq.upsertSuffix
	if _, err := q.ExecContext(ctx, s.dialect.rebind(query), args...); err != nil {
		return fmt.Errorf("sqlstore: endpoints: %w", err)
	}
	return nil
}

// Claim implements delivery.Store. It locks the endpoints whose turn has
// come (FOR UPDATE SKIP LOCKED, so that concurrent claimers share them
// out), counts each one's leases in a later statement, which sees every
// claim committed before the lock was granted, leases each one's due
// attempts up to its room, going round them one at a time, and gives each
// its next turn. An endpoint with no room is parked until a completion or
// the end of a lease brings it back.
func (s *Store) Claim(ctx context.Context, req delivery.ClaimRequest) ([]delivery.Job, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	if err := checkText("lease owner", req.Owner, maxNameChars); err != nil {
		return nil, err
	}
	var jobs []delivery.Job
	err := retryDeadlocks(ctx, func() error {
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
	now := d.timeArg(req.Now)
	turns, err := s.readyEndpoints(ctx, tx, req)
	if err != nil || len(turns) == 0 {
		return nil, err
	}
	if err := s.countLeases(ctx, tx, turns, now); err != nil {
		return nil, err
	}
	// Share Limit out one attempt at a time, as far as each room allows.
	for left, more := req.Limit, true; left > 0 && more; {
		more = false
		for _, t := range turns {
			if left > 0 && (t.room() < 0 || t.quota < t.room()) {
				t.quota++
				left--
				more = true
			}
		}
	}
	var jobs []delivery.Job
	var ids []any
	for _, t := range turns {
		if t.quota == 0 {
			continue
		}
		if t.jobs, err = s.claimed(ctx, tx, req, s.eq.due, t.id, now, now, t.quota); err != nil {
			return nil, err
		}
		for i := range t.jobs {
			t.jobs[i].Probe = t.probe
			ids = append(ids, t.jobs[i].Attempt.ID)
		}
		jobs = append(jobs, t.jobs...)
	}
	for chunk := range slices.Chunk(ids, insertBatch) {
		args := append([]any{req.Owner, d.timeArg(req.Until)}, chunk...)
		if _, err := tx.ExecContext(ctx, d.rebind(s.q.claimUpdatePrefix+placeholders(len(chunk))), args...); err != nil {
			return nil, fmt.Errorf("sqlstore: claim: %w", err)
		}
	}
	for _, t := range turns {
		if err := s.park(ctx, tx, t, req); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// readyEndpoints locks the endpoints whose turn has come, at most
// req.Limit of them, since each one served takes an attempt.
func (s *Store) readyEndpoints(ctx context.Context, tx *sql.Tx, req delivery.ClaimRequest) ([]*turn, error) {
	rows, err := tx.QueryContext(ctx, s.eq.ready, s.dialect.timeArg(req.Now), req.Limit)
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
func (s *Store) countLeases(ctx context.Context, tx *sql.Tx, turns []*turn, now any) error {
	byID := make(map[string]*turn, len(turns))
	args := []any{now}
	for _, t := range turns {
		byID[t.id] = t
		args = append(args, t.id)
	}
	rows, err := tx.QueryContext(ctx, s.dialect.rebind(s.eq.live+placeholders(len(turns))+" GROUP BY endpoint_id"), args...)
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

// park gives t its next turn after the claim: behind every endpoint
// waiting now when it may have more due work and room; when its first
// lease ends, or a completion frees a place, when it has no room; or when
// its next attempt becomes due (or a lease ends), or never, when it has
// none due.
func (s *Store) park(ctx context.Context, tx *sql.Tx, t *turn, req delivery.ClaimRequest) error {
	d := s.dialect
	took := len(t.jobs)
	if took > 0 && (t.liveUntil.IsZero() || req.Until.Before(t.liveUntil)) {
		t.liveUntil = req.Until
	}
	t.live += took
	var at time.Time
	served, saturated := took > 0, false
	switch {
	case t.room() == 0:
		at, saturated = t.liveUntil, true
	case took == t.quota && took > 0:
		at = req.Now
	default:
		var next dbTime
		if err := tx.QueryRowContext(ctx, s.eq.next, t.id, d.timeArg(req.Now), d.timeArg(req.Now)).Scan(&next); err != nil {
			return fmt.Errorf("sqlstore: claim: %w", err)
		}
		at, served = next.t, false
		if !t.liveUntil.IsZero() && (at.IsZero() || t.liveUntil.Before(at)) {
			at = t.liveUntil
		}
	}
	if _, err := tx.ExecContext(ctx, s.eq.park, d.timeArg(at), served, saturated, d.timeArg(req.Now), t.id); err != nil {
		return fmt.Errorf("sqlstore: claim: %w", err)
	}
	return nil
}

// scanHealth reads the healthColumns.
func scanHealth(sc scanner) (delivery.EndpointHealth, error) {
	var h delivery.EndpointHealth
	var since, last, paused, disabled dbTime
	var cooldown int64
	err := sc.Scan(&h.EndpointID, &h.Failures, &since, &h.LastStatusCode, &h.LastError, &last, &paused, &cooldown, &disabled)
	h.FailingSince, h.LastAttemptAt, h.PausedUntil, h.DisabledAt = since.t, last.t, paused.t, disabled.t
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
