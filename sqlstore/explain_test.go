package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// postgresPlanStore returns a migrated Store on PostgreSQL with tables of
// its own, named from tag, dropped when the test ends, or skips the test.
func postgresPlanStore(t *testing.T, tag string) (*Store, *sql.DB) {
	dsn := os.Getenv("DELIVERY_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("set DELIVERY_TEST_POSTGRES_DSN to check PostgreSQL plans")
	}
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := New(db, &Config{TablePrefix: tag + strings.ToLower(time.Now().Format("150405_")) + "x_"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Drop(context.Background())) })
	return s, db
}

// claimInTx runs the claim function at now in a transaction, which it
// returns open (rolled back when the test ends), so that the caller can
// read the transaction's statistics; and how many attempts it claimed.
func claimInTx(t *testing.T, db *sql.DB, s *Store, now time.Time, limit, perEndpoint int) (*sql.Tx, int) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	rows, err := tx.QueryContext(ctx, s.eq.pgClaim, "owner", now, now.Add(time.Minute), limit, perEndpoint)
	require.NoError(t, err)
	claimed := 0
	for rows.Next() {
		claimed++
	}
	require.NoError(t, rows.Close())
	return tx, claimed
}

// The hot queries use their indexes on PostgreSQL: the plan of each, on a
// table of 200,000 attempts of which 1% are pending and 0.1% canceled, and
// 10,000 endpoints, scans an index and never the table; and the claim
// function reads no table whole. The plans are printed with -v; the package
// documentation shows them.
func TestPostgresPlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	s, db := postgresPlanStore(t, "plan_")
	table, endpoints := s.prefix+"attempts", s.prefix+"endpoints"
	_, err := db.ExecContext(ctx, `INSERT INTO `+s.prefix+`events (event_id, event_type, payload)
		SELECT 'evt_' || i, 'invoice.paid', '{}' FROM generate_series(0, 49999) AS i`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO `+table+` (`+columns+`)
		SELECT lpad(i::text, 26, '0'), 'evt_' || (i % 50000), 'invoice.paid', 'ep_' || (i % 500), 'https://example.com/',
			CASE WHEN i % 100 = 0 THEN 2 WHEN i % 1000 = 1 THEN 3 WHEN i % 7 = 0 THEN 1 ELSE 0 END, i / 50000 + 1, 'first', '', false, 200, NULL, '',
			now(), 1000, now() - (200000 - i) * interval '1 second'
		FROM generate_series(1, 200000) AS i`)
	require.NoError(t, err)
	// 10,000 endpoints, of which the 500 with attempts have their turn.
	_, err = db.ExecContext(ctx, `INSERT INTO `+endpoints+` (endpoint_id, ready_at)
		SELECT 'ep_' || i, CASE WHEN i < 500 THEN now() - i * interval '1 second' END FROM generate_series(0, 9999) AS i`)
	require.NoError(t, err)
	for _, tb := range []string{table, endpoints} {
		_, err = db.ExecContext(ctx, "ANALYZE "+tb)
		require.NoError(t, err)
	}

	now := time.Now().UTC()
	// A group commit of 50 completions.
	var completions [][]any
	for i := range 50 {
		completions = append(completions, []any{delivery.StatusSuccess, []byte{}, false, 204, nil, "", now, int64(1000), fmt.Sprintf("%026d", i*100)})
	}
	completeArgs, err := pgArrays(completions, 9)
	require.NoError(t, err)
	insertArgs, err := pgArrays(nil, insertArity+2)
	require.NoError(t, err)
	ds, deps := deltas{}, map[string][]string{}
	for i := range 50 {
		ds.done("ep_7", delivery.Attempt{Status: delivery.StatusSuccess, ResponseStatusCode: 204, AttemptedAt: now, ScheduledAt: now})
		deps["ep_7"] = append(deps["ep_7"], fmt.Sprintf("%026d", i*100))
	}
	endpointArgs, err := s.pgBatchArgs(ds, deps)
	require.NoError(t, err)
	list := func(q delivery.ListQuery) (string, []any) { return s.listQuery(q, 100) }
	tests := []struct {
		name  string
		query string
		args  []any
		index string
	}{
		{"get", s.q.get, []any{"00000000000000000000012345"}, table + "_pkey"},
		{"group commit", s.q.batch, slices.Concat(completeArgs, insertArgs, endpointArgs), table + "_pkey"},
		{"event payload", s.q.event, []any{"evt_42"}, s.prefix + "events_pkey"},
		{"purge's events without attempts", s.dialect.rebind(s.q.orphansPrefix + placeholders(2)), []any{"evt_42", "evt_43"}, table + "_number"},
	}
	for _, q := range []struct {
		name  string
		lq    delivery.ListQuery
		index string
	}{
		// The unique index of attempt numbers leads with the event.
		{"list by event", delivery.ListQuery{EventID: "evt_42"}, "_number"},
		{"list by endpoint", delivery.ListQuery{EndpointID: "ep_7", After: "00000000000000000000100000"}, "_endpoint"},
		{"list by rare status", delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusCanceled}}, "_status"},
		{"list by status and time", delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusFailure}, ScheduledFrom: now.Add(-time.Hour)}, "_status_scheduled"},
	} {
		query, args := list(q.lq)
		tests = append(tests, struct {
			name  string
			query string
			args  []any
			index string
		}{q.name, query, args, table + strings.ReplaceAll(q.index, "|", "|"+table)})
	}
	// The claim function runs its statements inside: the transaction's
	// own statistics show that none of them read a table whole.
	tx, claimed := claimInTx(t, db, s, now, 100, 4)
	require.Positive(t, claimed)
	for _, tb := range []string{table, endpoints, s.prefix + "events"} {
		var seq, idx int64
		require.NoError(t, tx.QueryRowContext(ctx, "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = $1", tb).Scan(&seq, &idx))
		t.Logf("claim: %s read %d times by index, %d times whole", tb, idx, seq)
		require.Zero(t, seq, "the claim reads %s whole", tb)
		require.Positive(t, idx)
	}
	require.NoError(t, tx.Rollback())

	for _, tt := range tests {
		rows, err := db.QueryContext(ctx, "EXPLAIN "+tt.query, tt.args...)
		require.NoError(t, err, tt.name)
		var plan []string
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan = append(plan, line)
		}
		require.NoError(t, rows.Close())
		text := strings.Join(plan, "\n")
		t.Logf("%s:\n%s", tt.name, text)
		require.Contains(t, text, "Index", "%s scans no index:\n%s", tt.name, text)
		require.True(t, slices.ContainsFunc(strings.Split(tt.index, "|"), func(index string) bool { return strings.Contains(text, index) }),
			"%s does not use %s:\n%s", tt.name, tt.index, text)
		require.NotContains(t, text, "Seq Scan", "%s scans the table:\n%s", tt.name, text)
	}
}

// On SQLite a claim finds the endpoints whose turn came, and each one's
// due attempts, through their indexes in order, without sorting, and reads
// no table whole: an attempt's payload is found by its event's key.
func TestSQLiteClaimPlan(t *testing.T) {
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "plan.db"))
	require.NoError(t, err)
	defer db.Close()
	s, err := New(db, nil)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	now := time.Now().UnixMicro()
	for _, q := range []struct {
		query string
		args  []any
		index string
	}{
		{s.eq.ready, []any{now, 100}, "delivery_endpoints_ready"},
		{s.eq.due, []any{"ep_1", now, now, 4}, "delivery_attempts_queue"},
		{s.eq.next, []any{"ep_1", now}, "delivery_attempts_queue"},
		{s.dialect.rebind(s.eq.live + placeholders(2) + " GROUP BY endpoint_id"), []any{now, "ep_1", "ep_2"}, "delivery_attempts_leased"},
	} {
		rows, err := db.Query("EXPLAIN QUERY PLAN "+q.query, q.args...)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Close())
		text := strings.Join(plan, "\n")
		require.Contains(t, text, "INDEX "+q.index, text)
		require.NotContains(t, text, "TEMP B-TREE FOR ORDER BY", "the claim sorts:\n%s", text)
		require.NotRegexp(t, `(?m)SCAN [a-z_]+$`, text, "the claim reads a table whole:\n%s", text)
	}
}

// planEngine is an engine whose plans a test checks.
type planEngine struct {
	name, driver, dsn string
}

// planEngines returns SQLite and the servers whose DSN is set.
func planEngines(t *testing.T) []planEngine {
	engines := []planEngine{{"sqlite", "", ""}}
	for _, e := range []planEngine{{"postgres", "pgx", os.Getenv("DELIVERY_TEST_POSTGRES_DSN")}, {"mysql", "mysql", os.Getenv("DELIVERY_TEST_MYSQL_DSN")}} {
		if e.dsn == "" {
			t.Logf("%s: skipped; set its DSN to check its plan", e.name)
			continue
		}
		engines = append(engines, e)
	}
	return engines
}

// plannedStore returns a Store on e, with tables of its own, holding
// 20,000 attempts to 200 endpoints scheduled a second apart back from
// now, of which the 200 latest are pending and the rest final, with the
// statistics of each engine up to date; and now.
func plannedStore(t *testing.T, e planEngine, tag string) (*Store, *sql.DB, time.Time) {
	ctx := context.Background()
	var db *sql.DB
	var err error
	if e.driver == "" {
		db, err = OpenSQLite(filepath.Join(t.TempDir(), "plan.db"))
	} else {
		db, err = sql.Open(e.driver, e.dsn)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := New(db, &Config{TablePrefix: tag + strings.ToLower(time.Now().Format("150405_")) + e.name + "_"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	t.Cleanup(func() { require.NoError(t, s.Drop(ctx)) })
	now := time.Now().UTC().Truncate(time.Microsecond)
	var jobs []delivery.Job
	for i := range 20000 {
		a := delivery.Attempt{ID: fmt.Sprintf("%026d", i), EventID: fmt.Sprintf("evt_%d", i), EndpointID: fmt.Sprintf("ep_%d", i%200),
			EndpointURL: "https://example.com/", Status: delivery.StatusPending, AttemptNumber: 1, Trigger: delivery.TriggerFirst,
			ScheduledAt: now.Add(-time.Duration(i) * time.Second)}
		jobs = append(jobs, delivery.Job{Attempt: a, Payload: []byte(`{}`)})
	}
	for chunk := range slices.Chunk(jobs, 500) {
		require.NoError(t, s.Insert(ctx, chunk...))
	}
	// Most attempts are final, as in a store that has run a while.
	_, err = db.ExecContext(ctx, s.dialect.rebind("UPDATE "+s.prefix+"attempts SET status = 0 WHERE id >= ?"), fmt.Sprintf("%026d", 200))
	require.NoError(t, err)
	switch e.name {
	case "postgres":
		// The queue index as it is where pending attempts were always
		// few: right after this mass completion its empty pages make a
		// full read of it look dear, and the planner reads the status
		// index instead (an index still) until vacuums have let the pages
		// be reused.
		_, err = db.ExecContext(ctx, "REINDEX INDEX "+s.prefix+"attempts_queue")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "VACUUM ANALYZE "+s.prefix+"attempts")
	case "mysql":
		_, err = db.ExecContext(ctx, "ANALYZE TABLE "+s.prefix+"attempts")
	}
	require.NoError(t, err)
	return s, db, now
}

// updateAnalyzed runs update, a statement without parameters, on the
// attempts table of engine, then brings the engine's statistics of it up
// to date, as a store that has run a while has them.
func updateAnalyzed(t *testing.T, db *sql.DB, engine, table, update string) {
	ctx := context.Background()
	_, err := db.ExecContext(ctx, update)
	require.NoError(t, err)
	switch engine {
	case "postgres":
		_, err = db.ExecContext(ctx, "VACUUM ANALYZE "+table)
	case "mysql":
		_, err = db.ExecContext(ctx, "ANALYZE TABLE "+table)
	}
	require.NoError(t, err)
}

// explain returns the lines of the plan of query on engine, each as
// column=value pairs, and logs them under what.
func explain(t *testing.T, db *sql.DB, engine, what, query string, args ...any) []string {
	prefix := map[string]string{"sqlite": "EXPLAIN QUERY PLAN ", "postgres": "EXPLAIN ", "mysql": "EXPLAIN "}[engine]
	rows, err := db.QueryContext(context.Background(), prefix+query, args...)
	require.NoError(t, err)
	cols, err := rows.Columns()
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		values := make([]sql.NullString, len(cols))
		dest := make([]any, len(cols))
		for i := range values {
			dest[i] = &values[i]
		}
		require.NoError(t, rows.Scan(dest...))
		var line []string
		for i, v := range values {
			line = append(line, cols[i]+"="+v.String)
		}
		plan = append(plan, strings.Join(line, " "))
	}
	require.NoError(t, rows.Close())
	t.Logf("%s plan:\n%s", what, strings.Join(plan, "\n"))
	return plan
}

// mysqlTableLine returns the line of a MySQL plan that reads table.
func mysqlTableLine(plan []string, table string) string {
	for _, line := range plan {
		if strings.Contains(line, "table="+table+" ") {
			return line
		}
	}
	return ""
}

// The queue stats read the attempts table through the queue index alone,
// on every engine: 20,000 attempts, 1% of them pending and due, on 200
// endpoints.
func TestQueueStatsPlan(t *testing.T) {
	for _, e := range planEngines(t) {
		t.Run(e.name, func(t *testing.T) {
			s, db, now := plannedStore(t, e, "qplan_")
			st, err := s.QueueStats(context.Background(), now)
			require.NoError(t, err)
			require.Equal(t, int64(200), st.Due)

			plan := explain(t, db, e.name, "queue stats", s.sq.due.query, s.sq.due.args(map[string]any{"now": s.dialect.timeArg(now)})...)
			text := strings.Join(plan, "\n")
			index := s.prefix + "attempts_queue"
			switch e.name {
			case "sqlite":
				require.Contains(t, text, "COVERING INDEX "+index, "the attempts are read from the index alone")
			case "postgres":
				require.Contains(t, text, "Index Only Scan using "+index)
				require.NotContains(t, text, "Seq Scan on "+s.prefix+"attempts")
			case "mysql":
				attempts := mysqlTableLine(plan, s.prefix+"attempts")
				require.Contains(t, attempts, "key="+index, "the attempts are read through the queue index")
				require.Contains(t, attempts, "Using index", "from the index alone")
			}
		})
	}
}

// A purge finds the old final attempts through the index on status and
// scheduled time, on every engine, reading a range of it and not the
// table: 20,000 attempts, of which 1,000 are older than the purge's time.
func TestPurgePlan(t *testing.T) {
	for _, e := range planEngines(t) {
		t.Run(e.name, func(t *testing.T) {
			s, db, now := plannedStore(t, e, "pplan_")
			before := now.Add(-19000 * time.Second)
			args := s.purge.args(map[string]any{"before": s.dialect.timeArg(before), "limit": 1000})
			plan := explain(t, db, e.name, "purge", s.purge.query, args...)
			text := strings.Join(plan, "\n")
			index := s.prefix + "attempts_status_scheduled"
			switch e.name {
			case "sqlite":
				require.Contains(t, text, "USING INDEX "+index+" (status=? AND scheduled_at<?)", "a range of the index for each final status")
			case "postgres":
				require.Regexp(t, `(Index|Bitmap Index) Scan (using|on) `+index, text)
				require.NotContains(t, text, "Seq Scan on "+s.prefix+"attempts")
			case "mysql":
				attempts := mysqlTableLine(plan, s.prefix+"attempts")
				require.Contains(t, attempts, "type=range", "a range of the index")
				require.Contains(t, attempts, "key="+index)
			}
			n, err := s.Purge(context.Background(), before, 5000)
			require.NoError(t, err)
			require.Equal(t, 999, n, "the final attempts scheduled more than 19,000 s ago")
		})
	}
}

// List by status reads a page without sorting, on every engine: failures,
// a tenth of the final attempts here, and pending attempts through the
// index on status, which holds no successes on SQLite and PostgreSQL;
// successes, the rest, in ID order, through the primary key. Each page
// holds what it asks for.
func TestListByStatusPlan(t *testing.T) {
	for _, e := range planEngines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			s, db, _ := plannedStore(t, e, "splan_")
			table := s.prefix + "attempts"
			updateAnalyzed(t, db, e.name, table, "UPDATE "+table+" SET status = 1 WHERE status = 0 AND id LIKE '%7'")
			for _, c := range []struct {
				name   string
				status delivery.Status
				index  string // "" for the primary key
			}{
				{"failures", delivery.StatusFailure, "_status"},
				{"pending", delivery.StatusPending, "_status"},
				{"successes", delivery.StatusSuccess, ""},
			} {
				q := delivery.ListQuery{Statuses: []delivery.Status{c.status}, Descending: true}
				query, args := s.listQuery(q, 50)
				plan := explain(t, db, e.name, c.name, query, args...)
				text := strings.Join(plan, "\n")
				// No index holds pending attempts in ID order on
				// PostgreSQL (see the package docs): their plan is not
				// checked there.
				if e.name != "postgres" || c.status != delivery.StatusPending {
					switch {
					case e.name == "sqlite" && c.index != "":
						require.Contains(t, text, "USING INDEX "+table+c.index+" (status=?)", c.name)
					case e.name == "sqlite":
						require.Regexp(t, `SCAN `+table+` USING INDEX sqlite_autoindex_`+table+`_1\b`, text, c.name)
					case e.name == "postgres" && c.index != "":
						require.Contains(t, text, "Index Scan Backward using "+table+c.index+" ", c.name)
					case e.name == "postgres":
						require.Contains(t, text, "Index Scan Backward using "+table+"_pkey", c.name)
					case e.name == "mysql":
						require.NotContains(t, mysqlTableLine(plan, table), "type=ALL", c.name)
					}
					require.NotContains(t, text, "TEMP B-TREE", c.name)
					require.NotContains(t, text, "Sort", c.name)
					require.NotContains(t, text, "Seq Scan", c.name)
					require.NotContains(t, text, "filesort", c.name)
				}
				page, err := s.List(ctx, q)
				require.NoError(t, err)
				require.Len(t, page.Attempts, q.PageLimit(), c.name)
				for _, a := range page.Attempts {
					require.Equal(t, c.status, a.Status, c.name)
				}
			}
		})
	}
}

// On SQLite, which plans without statistics, the writes that name a few
// attempts find them by key, however many they name, and never read every
// pending attempt through an index on status: a claim's lease and a
// release by primary key, a Cancel by event through the event's index
// (200 pending attempts of 20,000 here; a backlog makes them many more).
func TestSQLiteWritesFindRowsByKey(t *testing.T) {
	s, db, now := plannedStore(t, planEngine{"sqlite", "", ""}, "kplan_")
	table := s.prefix + "attempts"
	byID := "USING INDEX sqlite_autoindex_" + table + "_1 (id=?)"
	for _, n := range []int{1, 2, 3, 8, 16, 64} {
		ids := make([]any, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%026d", i)
		}
		lease := s.dialect.rebind(s.q.claimUpdatePrefix + placeholders(n))
		text := strings.Join(explain(t, db, "sqlite", "lease", lease, append([]any{"o", s.dialect.timeArg(now)}, ids...)...), "\n")
		require.Contains(t, text, byID, "a lease of %d attempts", n)
		release := s.dialect.rebind(s.q.release + placeholders(n))
		text = strings.Join(explain(t, db, "sqlite", "release", release, append([]any{"o"}, ids...)...), "\n")
		require.Contains(t, text, byID, "a release of %d attempts", n)
	}
	for _, c := range []struct {
		req   delivery.CancelRequest
		index string
	}{
		{delivery.CancelRequest{EventID: "evt_7", Now: now}, `_number \(event_id=\?\)`},
		{delivery.CancelRequest{EventID: "evt_7", EndpointID: "ep_7", Now: now}, `_number \(event_id=\? AND endpoint_id=\?\)`},
		// The leases an endpoint holds, or its pending attempts.
		{delivery.CancelRequest{EndpointID: "ep_7", Now: now}, `_(leased|queue) \(endpoint_id=\?`},
	} {
		mark, cancel, args := s.cancelStatements(c.req)
		for _, q := range []string{mark, cancel} {
			text := strings.Join(explain(t, db, "sqlite", "cancel", q, args...), "\n")
			require.Regexp(t, "USING (COVERING )?INDEX "+table+c.index, text, "%+v", c.req)
		}
	}
	n, err := s.Cancel(context.Background(), delivery.CancelRequest{EventID: "evt_7", Now: now})
	require.NoError(t, err)
	require.Equal(t, 1, n, "the event's pending attempt")
}

// A claim on PostgreSQL reads what it takes, not the backlog, even when
// the statistics were gathered while nothing was pending, as they are in a
// store whose queue was empty at its last ANALYZE and has since filled:
// 20,000 final attempts analysed, then a backlog of 5,000 on 10 endpoints.
func TestPostgresClaimAfterStaleStatistics(t *testing.T) {
	ctx := context.Background()
	s, db := postgresPlanStore(t, "stale_")
	table, endpoints := s.prefix+"attempts", s.prefix+"endpoints"
	insert := func(from, to, status int) {
		_, err := db.ExecContext(ctx, `INSERT INTO `+s.prefix+`events (event_id, event_type, payload)
			SELECT 'evt_' || i, 'invoice.paid', '{}' FROM generate_series($1::int, $2::int) AS i`, from, to)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `INSERT INTO `+table+` (`+columns+`)
			SELECT lpad(i::text, 26, '0'), 'evt_' || i, 'invoice.paid', 'ep_' || (i % 10), 'https://example.com/',
				$3, 1, 'first', '', false, 0, NULL, '', NULL, 0, now() - interval '1 hour' + i * interval '1 millisecond'
			FROM generate_series($1::int, $2::int) AS i`, from, to, status)
		require.NoError(t, err)
	}
	insert(1, 20000, int(delivery.StatusSuccess))
	_, err := db.ExecContext(ctx, "ANALYZE "+table)
	require.NoError(t, err)
	insert(20001, 25000, int(delivery.StatusPending))
	_, err = db.ExecContext(ctx, `INSERT INTO `+endpoints+` (endpoint_id, ready_at) SELECT 'ep_' || i, now() - interval '1 hour' FROM generate_series(0, 9) AS i`)
	require.NoError(t, err)

	tx, claimed := claimInTx(t, db, s, time.Now().UTC(), 16, 16)
	require.Equal(t, 16, claimed)
	var fetched int64
	require.NoError(t, tx.QueryRowContext(ctx, "SELECT idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = $1", table).Scan(&fetched))
	t.Logf("the claim of %d fetched %d attempts through indexes", claimed, fetched)
	require.LessOrEqual(t, fetched, int64(4*claimed), "the claim reads the backlog")
}

// What a portal reads goes through indexes on every engine: one
// customer's attempts newest first, of all types and of one; and the
// activity of its endpoints. 20,000 attempts on 200 endpoints, sent a
// second apart, of two event types.
func TestPortalPlans(t *testing.T) {
	for _, e := range planEngines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			s, db, now := plannedStore(t, e, "vplan_")
			table := s.prefix + "attempts"
			updateAnalyzed(t, db, e.name, table, "UPDATE "+table+" SET attempted_at = scheduled_at, event_type = CASE WHEN endpoint_id IN ('ep_1', 'ep_2', 'ep_3') THEN 'invoice.failed' ELSE 'invoice.paid' END WHERE status = 0")

			scope := []string{"ep_1", "ep_7", "ep_9"}
			act := delivery.ActivityQuery{EndpointIDs: scope, From: now.Add(-24 * time.Hour), Step: time.Hour, Buckets: 24}
			got, err := s.Activity(ctx, act)
			require.NoError(t, err)
			sum := 0
			for _, a := range got {
				require.Equal(t, 1, a.Pending, a.EndpointID)
				for b := range a.Succeeded {
					sum += a.Succeeded[b] + a.Failed[b]
				}
			}
			require.Equal(t, 3*20000/200-3, sum, "every attempt of the three endpoints, sent in the last day, but for the latest of each, pending")
			st := s.activityStatements(act)
			type check struct {
				name, query string
				args        []any
				index       string
			}
			newest, newestArgs := s.listQuery(delivery.ListQuery{EndpointIDs: scope, Descending: true}, 50)
			typed, typedArgs := s.listQuery(delivery.ListQuery{EndpointIDs: scope, EventType: "invoice.failed", Descending: true}, 50)
			for _, c := range []check{
				{"newest of a customer", newest, newestArgs, "_endpoint"},
				{"newest of a customer, of one type", typed, typedArgs, "_endpoint_type"},
				{"pending per endpoint", st.pending, st.pendingArgs, "_queue"},
				{"sent per endpoint and hour", st.sent, st.sentArgs, "_sent"},
			} {
				plan := explain(t, db, e.name, c.name, c.query, c.args...)
				text := strings.Join(plan, "\n")
				index := table + c.index
				switch e.name {
				case "sqlite":
					require.Regexp(t, `INDEX `+index+`\b`, text, c.name)
					require.NotContains(t, text, "SCAN "+table+"\n", c.name)
				case "postgres":
					require.Regexp(t, `(Index|Index Only|Bitmap Index) Scan (Backward )?(using|on) `+index+`\b`, text, c.name)
					require.NotContains(t, text, "Seq Scan", c.name)
				case "mysql":
					line := mysqlTableLine(plan, table)
					require.Contains(t, line, "key="+index+" ", c.name)
					require.NotContains(t, line, "type=ALL", c.name)
				}
			}
		})
	}
}
