package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/webhookkit/delivery"
)

// DefaultTablePrefix starts the names of the Store's tables unless
// Config.TablePrefix says otherwise.
const DefaultTablePrefix = "delivery_"

// Config configures a Store. A nil *Config means all defaults.
type Config struct {
	// Dialect is the database's SQL flavour. Defaults to DetectDialect,
	// which tells it from the driver of the *sql.DB.
	Dialect Dialect
	// TablePrefix starts every table and index name: letters, digits and
	// underscores, at most 32, starting with a letter or underscore.
	// Defaults to DefaultTablePrefix.
	TablePrefix string
	// GroupCommit is how many concurrent Insert and Complete calls may
	// share one transaction (see the package documentation). Each call
	// still returns only after its transaction committed, so nothing about
	// durability changes; what is shared is the commit, which on SQLite
	// with synchronous=FULL is a sync of the file. A lone call does not
	// wait for others. 1 gives every call a transaction of its own.
	// Defaults to DefaultGroupCommit.
	GroupCommit int
	// NoNotify turns off the PostgreSQL notification that InsertTx sends
	// in the host's transaction, on the channel NotifyChannel names, so
	// that workers listening with sqlstore/pgnotify claim the attempts as
	// soon as it commits rather than at their next poll. PostgreSQL
	// serializes the commits of transactions that notify, briefly; a host
	// that enqueues in many concurrent transactions and whose workers poll
	// may turn it off. Other engines never notify.
	NoNotify bool
}

// Store is a delivery.Store on a database/sql database. It is safe for
// concurrent use by multiple goroutines and, on PostgreSQL and MySQL, by
// multiple processes on one database. See the package documentation.
type Store struct {
	db      *sql.DB
	dialect Dialect
	prefix  string
	q       queries
	eq      endpointQueries
	sq      statsQueries
	purge   namedStmt
	commits *committer
	// stmts holds prepared statements, except on PostgreSQL (nil).
	stmts *stmtCache
}

var _ delivery.Store = (*Store)(nil)

// New returns a Store on db. It does not touch the database: call Migrate
// (or apply Migrations) before first use. It returns an error when the
// dialect cannot be detected or the table prefix is invalid.
func New(db *sql.DB, cfg *Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: db is nil")
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.TablePrefix == "" {
		c.TablePrefix = DefaultTablePrefix
	}
	if err := checkPrefix(c.TablePrefix); err != nil {
		return nil, err
	}
	if c.Dialect == DetectDialect {
		d, err := detect(db)
		if err != nil {
			return nil, err
		}
		c.Dialect = d
	}
	if c.Dialect < SQLite || c.Dialect > MySQL {
		return nil, fmt.Errorf("sqlstore: unknown %v", c.Dialect)
	}
	if c.GroupCommit < 0 {
		return nil, fmt.Errorf("sqlstore: GroupCommit %d is negative", c.GroupCommit)
	}
	if c.GroupCommit == 0 {
		c.GroupCommit = DefaultGroupCommit
	}
	notifyChannel := ""
	if c.Dialect == Postgres && !c.NoNotify {
		notifyChannel = notifyChannelOf(c.TablePrefix)
	}
	st := &Store{
		db: db, dialect: c.Dialect, prefix: c.TablePrefix, eq: newEndpointQueries(c.Dialect, c.TablePrefix),
		sq:    newStatsQueries(c.Dialect, c.TablePrefix),
		purge: purgeQuery(c.Dialect, c.TablePrefix),
	}
	st.q = newQueries(c.Dialect, c.TablePrefix, notifyChannel, st.eq.pgBatch)
	if c.Dialect != Postgres {
		st.stmts = &stmtCache{db: db, prepared: map[string]*sql.Stmt{}, hot: map[string]bool{
			st.q.complete: true, st.q.status: true, st.q.cancelRequested: true, st.q.insertOne: true, st.q.eventOne: true,
			st.eq.ready: true, st.eq.due: true, st.eq.next: true, st.eq.park: true, st.eq.outcome.query: true, st.eq.upsertOne: true,
		}}
	}
	st.commits = &committer{max: c.GroupCommit, flushers: c.Dialect.flushers(), run: st.runBatch, alone: st.writeAlone}
	return st, nil
}

// Dialect returns the Store's dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// TablePrefix returns the prefix of the Store's table names: its attempts
// live in TablePrefix()+"attempts".
func (s *Store) TablePrefix() string { return s.prefix }

// NotifyChannel returns the PostgreSQL channel on which InsertTx notifies
// of new work (see Config.NoNotify): TablePrefix()+"due".
func (s *Store) NotifyChannel() string { return notifyChannelOf(s.prefix) }

func notifyChannelOf(prefix string) string { return prefix + "due" }

func checkPrefix(p string) error {
	ok := len(p) > 0 && len(p) <= 32
	for i := 0; ok && i < len(p); i++ {
		c := p[i]
		ok = c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
	}
	if !ok {
		return fmt.Errorf("sqlstore: table prefix %q must be 1 to 32 letters, digits and underscores, not starting with a digit", p)
	}
	return nil
}

// columns are the attempt columns, in the order rowArgs and scanAttempt use.
const columns = "id, event_id, event_type, endpoint_id, endpoint_url, status, attempt_number, triggered_by, " +
	"response, response_truncated, response_status_code, response_headers, error, attempted_at, duration_ns, scheduled_at"

// queries are the Store's statements, built once for its dialect and table.
type queries struct {
	// insertPrefix and insertRow make an INSERT of any number of rows;
	// insertOne is the INSERT of one row, the common case.
	insertPrefix, insertRow string
	insertOne               string
	// eventsPrefix and eventsSuffix make the INSERT of events that skips
	// those already stored, around any number of eventRow; eventOne is
	// that of one event.
	eventsPrefix, eventsSuffix string
	eventOne                   string
	// orphansPrefix deletes the events of a list of IDs that no attempt
	// references: it ends with the IN of the list.
	orphansPrefix           string
	complete                string
	status, cancelRequested string
	get, event              string
	release                 string
	// claimUpdatePrefix leases claimed attempts: it ends with the IN of a
	// list of IDs.
	claimUpdatePrefix string
	// insertTxSuffix, on PostgreSQL, ends the INSERT of InsertTx: it skips
	// duplicates, so that one does not abort the host's transaction, and
	// returns the IDs it stored, each with a column that, when the store
	// notifies, sends the notification of new work in the same statement:
	// once, as an InitPlan, and only when a row was stored.
	insertTxSuffix string
	// undo deletes rows by ID, to take back part of an InsertTx.
	undo string
	list string
	// batch, on PostgreSQL, is the statement that runs a group commit's
	// batch: it takes complete's arguments and the insert arguments of the
	// new rows, each followed by the ID of the attempt whose completion it
	// depends on or NULL, as arrays a column (see pgArrays), then the
	// arguments of the endpoints' clauses (see endpointQueries.pgBatch).
	batch string
}

// completeColumns name the columns of a batched completion's rows, in the
// order of complete's arguments.
const completeColumns = "v_status, v_response, v_truncated, v_code, v_headers, v_error, v_attempted_at, v_duration, v_id"

// eventRow is one event's values in the INSERT of events.
const eventRow = "(?, ?, ?)"

func newQueries(d Dialect, prefix, notifyChannel, batchEndpoints string) queries {
	table, events := prefix+"attempts", prefix+"events"
	notify := "NULL"
	if notifyChannel != "" {
		// The channel is the validated table prefix and "due": no quote
		// can occur in it.
		notify = "(SELECT pg_notify('" + notifyChannel + "', '')) IS NULL"
	}
	r := d.rebind
	// A completion finds each attempt by its ID. It tests the status as
	// status + 0, which the partial indexes of pending attempts (WHERE
	// status = 2) cannot serve: with statistics taken while few attempts
	// were pending, the planner otherwise read every pending attempt
	// through the queue index and joined them by hash, once per group
	// commit (seen in a drain of 20,000). The price is on a table never
	// analyzed, where the plan reads the attempts table whole until
	// autovacuum first analyzes it (see the package docs).
	completeUpdate := "UPDATE " + table + " SET status = v_status, response = v_response, response_truncated = v_truncated, " +
		"response_status_code = v_code, response_headers = v_headers, error = v_error, attempted_at = v_attempted_at, " +
		"duration_ns = v_duration, lease_owner = NULL, lease_until = NULL FROM v WHERE id = v_id AND status + 0 = 2 " +
		"RETURNING id, cancel_requested"
	insertPrefix := "INSERT INTO " + table + " (" + columns + ", lease_owner, lease_until, trace_parent) VALUES "
	insertRow := placeholders(insertArity)
	// The dialect's INSERT that skips stored keys, cut at a marker where
	// the rows go.
	eventsPrefix, eventsSuffix, _ := strings.Cut(d.insertIgnore(events, "(event_id, event_type, payload) VALUES |"), "|")
	// The rows of a group commit's INSERT on PostgreSQL that are stored:
	// new attempts, and retries of attempts that were completed and whose
	// cancellation was not requested.
	stored := " FROM n WHERE after_id IS NULL OR after_id IN (SELECT id FROM u WHERE NOT cancel_requested)"
	return queries{
		insertPrefix: insertPrefix,
		insertRow:    insertRow,
		insertOne:    r(insertPrefix + insertRow),
		eventsPrefix: eventsPrefix,
		eventsSuffix: eventsSuffix,
		eventOne:     r(eventsPrefix + eventRow + eventsSuffix),
		orphansPrefix: "DELETE FROM " + events + " WHERE NOT EXISTS (SELECT 1 FROM " + table +
			" WHERE " + table + ".event_id = " + events + ".event_id) AND event_id IN ",
		complete: r("UPDATE " + table + " SET status = ?, response = ?, response_truncated = ?, response_status_code = ?, " +
			"response_headers = ?, error = ?, attempted_at = ?, duration_ns = ?, lease_owner = NULL, lease_until = NULL " +
			"WHERE id = ? AND status = 2"),
		status:          r("SELECT status FROM " + table + " WHERE id = ?"),
		cancelRequested: r("SELECT cancel_requested FROM " + table + " WHERE id = ?"),
		get:             r("SELECT " + columns + " FROM " + table + " WHERE id = ?"),
		event:           r("SELECT event_type, payload FROM " + events + " WHERE event_id = ?"),
		release: "UPDATE " + table + " SET lease_owner = NULL, lease_until = NULL, " +
			"status = CASE WHEN cancel_requested THEN 3 ELSE status END WHERE " + d.unindexed("status") + " = 2 AND lease_owner = ? AND id IN ",
		// reclaimed is set before lease_owner: MySQL assigns left to right,
		// each assignment seeing the ones before it.
		claimUpdatePrefix: "UPDATE " + table + " SET reclaimed = (reclaimed OR lease_owner IS NOT NULL), lease_owner = ?, lease_until = ? " +
			"WHERE " + d.unindexed("status") + " = 2 AND id IN ",
		list:           "SELECT " + columns + " FROM " + table,
		insertTxSuffix: " ON CONFLICT DO NOTHING RETURNING id, " + notify,
		undo:           "DELETE FROM " + table + " WHERE id IN ",
		batch: r("WITH v AS (SELECT * FROM unnest(?::smallint[], ?::bytea[], ?::boolean[], ?::integer[], ?::jsonb[], ?::text[], " +
			"?::timestamptz[], ?::bigint[], ?::varchar[]) AS v (" + completeColumns + ")), " +
			"u AS (" + completeUpdate + "), " +
			"n AS (SELECT * FROM unnest(?::varchar[], ?::varchar[], ?::varchar[], ?::varchar[], ?::varchar[], ?::smallint[], ?::integer[], " +
			"?::varchar[], ?::bytea[], ?::boolean[], ?::integer[], ?::jsonb[], ?::text[], ?::timestamptz[], ?::bigint[], ?::timestamptz[], " +
			"?::varchar[], ?::timestamptz[], ?::varchar[], ?::bytea[], ?::varchar[]) WITH ORDINALITY AS n (" + columns +
			", lease_owner, lease_until, trace_parent, payload, after_id, ord)), " +
			// The first row of each event stores it, unless it is stored.
			"ev AS (INSERT INTO " + events + " (event_id, event_type, payload) SELECT DISTINCT ON (event_id) event_id, event_type, payload" +
			stored + " ORDER BY event_id, ord ON CONFLICT DO NOTHING), " +
			"i AS (INSERT INTO " + table + " (" + columns + ", lease_owner, lease_until, trace_parent) SELECT " + columns +
			", lease_owner, lease_until, trace_parent" + stored + ") " +
			batchEndpoints + " SELECT id, cancel_requested FROM u"),
	}
}

// Column limits that not every engine enforces, checked before writing so
// that every dialect fails the same clear way.
const (
	maxIDBytes   = 64
	maxNameChars = 255
	maxURLChars  = 2048
)

// checkText rejects, with an error wrapping delivery.ErrInvalidInput, a
// string that a text column cannot hold.
func checkText(field, s string, maxChars int) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("sqlstore: %s is not valid UTF-8 without NUL bytes: %w", field, delivery.ErrInvalidInput)
	}
	if n := utf8.RuneCountInString(s); n > maxChars {
		return fmt.Errorf("sqlstore: %s is %d characters, over the column's %d: %w", field, n, maxChars, delivery.ErrInvalidInput)
	}
	return nil
}

func checkJob(j delivery.Job) error {
	a := j.Attempt
	if a.ID == "" || len(a.ID) > maxIDBytes {
		return fmt.Errorf("sqlstore: attempt ID must have 1 to %d bytes: %w", maxIDBytes, delivery.ErrInvalidInput)
	}
	if a.Status != delivery.StatusPending {
		return fmt.Errorf("sqlstore: new attempt %s is %v, not pending: %w", a.ID, a.Status, delivery.ErrInvalidInput)
	}
	if err := j.Lease.Validate(); err != nil {
		return fmt.Errorf("sqlstore: attempt %s: %w", a.ID, err)
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"event ID", a.EventID, maxNameChars},
		{"event type", a.EventType, maxNameChars},
		{"endpoint ID", a.EndpointID, maxNameChars},
		{"endpoint URL", a.EndpointURL, maxURLChars},
		{"trigger", string(a.Trigger), 16},
		{"lease owner", j.Lease.Owner, maxNameChars},
		{"trace parent", j.TraceParent, delivery.MaxTraceParentLength},
	} {
		if err := checkText(f.name, f.value, f.max); err != nil {
			return fmt.Errorf("attempt %s: %w", a.ID, err)
		}
	}
	return checkResult(a)
}

// attemptNumber names one attempt number of an event to an endpoint.
type attemptNumber struct {
	event, endpoint string
	number          int
}

// checkJobs checks jobs that are to be inserted together, among them the
// duplicates they would be to each other.
func checkJobs(jobs []delivery.Job) error {
	seen := make(map[string]bool, len(jobs))
	numbers := make(map[attemptNumber]bool, len(jobs))
	for _, j := range jobs {
		if err := checkJob(j); err != nil {
			return err
		}
		a := j.Attempt
		n := attemptNumber{a.EventID, a.EndpointID, a.AttemptNumber}
		if seen[a.ID] || numbers[n] {
			return fmt.Errorf("sqlstore: attempt %s: %w", a.ID, delivery.ErrDuplicate)
		}
		seen[a.ID], numbers[n] = true, true
	}
	return nil
}

// checkResult checks the outcome fields of an attempt.
func checkResult(a delivery.Attempt) error {
	if err := checkText("error", a.Error, delivery.MaxErrorLength); err != nil {
		return fmt.Errorf("attempt %s: %w", a.ID, err)
	}
	return nil
}

// headersArg encodes response headers as JSON, or NULL when there are none.
// Header text that is not valid UTF-8 is stored with U+FFFD in its place.
func headersArg(h http.Header) (any, error) {
	if h == nil {
		return nil, nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encode response headers: %w", err)
	}
	return string(b), nil
}

// insertArity is how many insert arguments rowArgs returns for a job.
const insertArity = 19

// rowArgs returns the insert arguments of a job.
func (s *Store) rowArgs(j delivery.Job) ([]any, error) {
	a := j.Attempt
	headers, err := headersArg(a.ResponseHeaders)
	if err != nil {
		return nil, err
	}
	var owner any
	if j.Lease.Owner != "" {
		owner = j.Lease.Owner
	}
	d := s.dialect
	return []any{
		a.ID, a.EventID, a.EventType, a.EndpointID, a.EndpointURL, a.Status, a.AttemptNumber, string(a.Trigger),
		[]byte(a.Response), a.ResponseTruncated, a.ResponseStatusCode, headers, a.Error,
		d.timeArg(a.AttemptedAt), int64(a.Duration), d.timeArg(a.ScheduledAt),
		owner, d.timeArg(j.Lease.Until), j.TraceParent,
	}, nil
}

// payloadArg returns a job's payload as an argument: never NULL.
func payloadArg(j delivery.Job) []byte {
	if j.Payload == nil {
		return []byte{}
	}
	return j.Payload
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanAttempt scans the columns of an attempt, then extra.
func scanAttempt(sc scanner, extra ...any) (delivery.Attempt, error) {
	var (
		a                        delivery.Attempt
		trigger                  string
		response                 []byte
		headers                  sql.NullString
		attemptedAt, scheduledAt dbTime
		duration                 int64
	)
	dest := append([]any{&a.ID, &a.EventID, &a.EventType, &a.EndpointID, &a.EndpointURL, &a.Status, &a.AttemptNumber, &trigger,
		&response, &a.ResponseTruncated, &a.ResponseStatusCode, &headers, &a.Error, &attemptedAt, &duration, &scheduledAt}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return a, err
	}
	a.Trigger = delivery.Trigger(trigger)
	a.Response = string(response)
	a.AttemptedAt, a.ScheduledAt = attemptedAt.t, scheduledAt.t
	a.Duration = time.Duration(duration)
	if headers.Valid {
		if err := json.Unmarshal([]byte(headers.String), &a.ResponseHeaders); err != nil {
			return a, fmt.Errorf("sqlstore: attempt %s: decode response headers: %w", a.ID, err)
		}
	}
	return a, nil
}

// execer runs statements on a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertBatch is the most rows one INSERT statement carries, well within
// every engine's limit on placeholders.
const insertBatch = 500

// Insert implements delivery.Store. Up to 500 jobs go in one statement,
// in a transaction that concurrent writes may share (see
// Config.GroupCommit); more go in a transaction of their own. Either way
// they are stored together or not at all.
func (s *Store) Insert(ctx context.Context, jobs ...delivery.Job) error {
	if len(jobs) == 0 {
		return ctx.Err()
	}
	if len(jobs) > insertBatch {
		return s.inTx(ctx, func(tx *sql.Tx) error { return s.InsertTx(ctx, tx, jobs...) })
	}
	if err := checkJobs(jobs); err != nil {
		return err
	}
	return s.commits.do(ctx, &write{jobs: jobs})
}

// InsertTx is Insert inside the caller's transaction: the attempts are
// stored if and only if tx commits, together with whatever else tx writes.
// It is how a host makes its own business write and the webhooks it causes
// one atomic change (a transactional outbox). tx must belong to the Store's
// database. Up to 500 jobs go in one statement, more in several.
//
// A duplicate (see delivery.ErrDuplicate) stores none of jobs and leaves tx
// usable, on every engine: on PostgreSQL, where a failed statement aborts
// the transaction, the INSERT skips conflicting rows instead of failing,
// and what it stored is deleted again. Any other error may leave tx
// aborted; roll it back.
func (s *Store) InsertTx(ctx context.Context, tx *sql.Tx, jobs ...delivery.Job) error {
	if tx == nil {
		return fmt.Errorf("sqlstore: InsertTx needs a transaction: %w", delivery.ErrInvalidInput)
	}
	if err := checkJobs(jobs); err != nil {
		return err
	}
	var stored []string
	for chunk := range slices.Chunk(jobs, insertBatch) {
		ids, err := s.insertInTx(ctx, tx, chunk)
		stored = append(stored, ids...)
		if err == nil {
			continue
		}
		// A duplicate leaves tx usable: take back what this call stored,
		// the events of its jobs included.
		if len(stored) > 0 || errors.Is(err, delivery.ErrDuplicate) {
			if uerr := s.undoInserts(ctx, tx, stored, jobs); uerr != nil {
				return fmt.Errorf("%w; taking back the rows stored so far failed too, so roll the transaction back: %w", err, uerr)
			}
		}
		return err
	}
	ds := deltas{}
	for _, j := range jobs {
		ds.work(j)
	}
	return s.applyDeltas(ctx, tx, ds)
}

// insertInTx stores one chunk of jobs in tx, and returns the IDs it stored:
// none or all of them, except on PostgreSQL, where it skips duplicates and
// returns ErrDuplicate with the IDs it did store, for the caller to delete,
// and notifies listeners of new work, on commit (see Config.NoNotify).
func (s *Store) insertInTx(ctx context.Context, tx *sql.Tx, jobs []delivery.Job) ([]string, error) {
	if s.dialect != Postgres {
		if err := s.insert(ctx, tx, jobs, true); err != nil {
			return nil, err
		}
		return jobIDs(jobs), nil
	}
	query, args, err := s.insertStatement(jobs)
	if err != nil {
		return nil, err
	}
	if err := s.insertEvents(ctx, tx, jobs); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, query+s.q.insertTxSuffix, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: insert: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		var notified any // the notification's column; its value means nothing
		if err := rows.Scan(&id, &notified); err != nil {
			return ids, fmt.Errorf("sqlstore: insert: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return ids, fmt.Errorf("sqlstore: insert: %w", err)
	}
	if len(ids) < len(jobs) {
		return ids, fmt.Errorf("sqlstore: insert: %w", delivery.ErrDuplicate)
	}
	return ids, nil
}

// undoInserts deletes the rows of ids, which this transaction stored, and
// the events of jobs that are left without an attempt.
func (s *Store) undoInserts(ctx context.Context, tx *sql.Tx, ids []string, jobs []delivery.Job) error {
	if err := s.execIn(ctx, tx, s.q.undo, ids); err != nil {
		return fmt.Errorf("sqlstore: undo insert: %w", err)
	}
	return s.deleteOrphans(ctx, tx, eventIDs(jobs))
}

// execIn runs prefix, a statement that ends with IN, on ids, up to
// insertBatch of them a statement.
func (s *Store) execIn(ctx context.Context, db execer, prefix string, ids []string) error {
	for chunk := range slices.Chunk(ids, insertBatch) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := db.ExecContext(ctx, s.dialect.rebind(prefix+placeholders(len(chunk))), args...); err != nil {
			return err
		}
	}
	return nil
}

// firstOfEvents returns the first job of each event among jobs, in order:
// the job whose type and payload a new event is stored with.
func firstOfEvents(jobs []delivery.Job) []delivery.Job {
	firsts := make([]delivery.Job, 0, 1)
	seen := make(map[string]bool, 1)
	for _, j := range jobs {
		if id := j.Attempt.EventID; !seen[id] {
			seen[id] = true
			firsts = append(firsts, j)
		}
	}
	return firsts
}

// eventIDs returns the IDs of the events of jobs, each once.
func eventIDs(jobs []delivery.Job) []string {
	firsts := firstOfEvents(jobs)
	ids := make([]string, len(firsts))
	for i, j := range firsts {
		ids[i] = j.Attempt.EventID
	}
	return ids
}

// insertEvents stores the events of jobs that are not stored yet, each
// with the type and payload of its first job (see delivery.Store), up to
// insertBatch events a statement.
func (s *Store) insertEvents(ctx context.Context, db execer, jobs []delivery.Job) error {
	firsts := firstOfEvents(jobs)
	args := make([]any, 0, 3*len(firsts))
	for _, j := range firsts {
		args = append(args, j.Attempt.EventID, j.Attempt.EventType, payloadArg(j))
	}
	for chunk := range slices.Chunk(args, 3*insertBatch) {
		query := s.q.eventOne
		if n := len(chunk) / 3; n > 1 {
			query = s.dialect.rebind(s.q.eventsPrefix + strings.Repeat(eventRow+", ", n-1) + eventRow + s.q.eventsSuffix)
		}
		if _, err := db.ExecContext(ctx, query, chunk...); err != nil {
			return fmt.Errorf("sqlstore: insert events: %w", err)
		}
	}
	return nil
}

// deleteOrphans deletes the events of ids that no attempt references.
func (s *Store) deleteOrphans(ctx context.Context, db execer, ids []string) error {
	if err := s.execIn(ctx, db, s.q.orphansPrefix, ids); err != nil {
		return fmt.Errorf("sqlstore: delete events without attempts: %w", err)
	}
	return nil
}

func jobIDs(jobs []delivery.Job) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.Attempt.ID
	}
	return ids
}

// insertStatement returns the INSERT of jobs, at most insertBatch of them,
// with ? placeholders (or, for one job, the prebuilt statement of the
// dialect), and its arguments.
func (s *Store) insertStatement(jobs []delivery.Job) (string, []any, error) {
	args := make([]any, 0, len(jobs)*insertArity)
	for _, j := range jobs {
		row, err := s.rowArgs(j)
		if err != nil {
			return "", nil, err
		}
		args = append(args, row...)
	}
	if len(jobs) == 1 {
		return s.q.insertOne, args, nil
	}
	return s.dialect.rebind(s.q.insertPrefix + strings.Repeat(s.q.insertRow+", ", len(jobs)-1) + s.q.insertRow), args, nil
}

// insert stores jobs, at most insertBatch of them, with one statement,
// after their events unless the caller stored them (events false). The
// caller has checked them with checkJobs.
func (s *Store) insert(ctx context.Context, db execer, jobs []delivery.Job, events bool) error {
	query, args, err := s.insertStatement(jobs)
	if err != nil {
		return err
	}
	if events {
		if err := s.insertEvents(ctx, db, jobs); err != nil {
			return err
		}
	}
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("sqlstore: insert: %w", delivery.ErrDuplicate)
		}
		return fmt.Errorf("sqlstore: insert: %w", err)
	}
	return nil
}

// placeholders returns the parenthesized list of n placeholders, n > 0, of
// an IN clause, for rebind.
func placeholders(n int) string {
	return "(" + strings.Repeat("?, ", n-1) + "?)"
}

// isUniqueViolation reports whether err is a conflict on the primary key or
// the unique attempt number, by the codes each engine uses: SQLSTATE 23505
// (PostgreSQL), error 1062 (MySQL), SQLITE_CONSTRAINT_PRIMARYKEY and
// SQLITE_CONSTRAINT_UNIQUE (SQLite). It reads the error text, so that
// sqlstore depends on no driver.
func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "Error 1062") ||
		strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "duplicate key value")
}

// Complete implements delivery.Store, in a transaction that concurrent
// writes may share (see Config.GroupCommit). Without next, and alone, it
// is one conditional UPDATE.
func (s *Store) Complete(ctx context.Context, final delivery.Attempt, next *delivery.Job) error {
	if !final.Final() || !final.Status.Valid() {
		return fmt.Errorf("sqlstore: cannot complete attempt %s as %v: %w", final.ID, final.Status, delivery.ErrInvalidInput)
	}
	if err := checkResult(final); err != nil {
		return err
	}
	headers, err := headersArg(final.ResponseHeaders)
	if err != nil {
		return err
	}
	args := []any{final.Status, []byte(final.Response), final.ResponseTruncated, final.ResponseStatusCode,
		headers, final.Error, s.dialect.timeArg(final.AttemptedAt), int64(final.Duration), final.ID}
	if next != nil {
		if err := checkJob(*next); err != nil {
			return err
		}
	}
	return s.commits.do(ctx, &write{id: final.ID, args: args, next: next, final: final})
}

// querier runs statements and queries on a *sql.DB or a *sql.Tx.
type querier interface {
	execer
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// complete runs the conditional UPDATE, and tells why it changed nothing.
func (s *Store) complete(ctx context.Context, db querier, id string, args []any) error {
	res, err := db.ExecContext(ctx, s.q.complete, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: complete %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	return s.notCompleted(ctx, db, id)
}

// notCompleted tells why a conditional UPDATE did not complete attempt id:
// an error wrapping delivery.ErrNotFound when it did not exist (or, read
// after the UPDATE, is pending because it was inserted since), and one
// wrapping delivery.ErrNotPending when it was final.
func (s *Store) notCompleted(ctx context.Context, db querier, id string) error {
	var status delivery.Status
	switch err := db.QueryRowContext(ctx, s.q.status, id).Scan(&status); {
	case errors.Is(err, sql.ErrNoRows), err == nil && status == delivery.StatusPending:
		return fmt.Errorf("sqlstore: attempt %s: %w", id, delivery.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlstore: complete %s: %w", id, err)
	}
	return fmt.Errorf("sqlstore: attempt %s is %v: %w", id, status, delivery.ErrNotPending)
}

// inTx runs fn in a transaction, committed if fn returns nil. A
// transaction the engine aborted to break a deadlock is run again.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	s.stmts.prepareAll(ctx)
	return retryDeadlocks(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlstore: begin: %w", err)
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlstore: commit: %w", err)
		}
		return nil
	})
}

// retryDeadlocks runs fn, and again, a few times, while the engine
// reports that it aborted fn's work to break a deadlock or a serialization
// conflict, or gave up waiting for a lock: InnoDB's errors 1213 and 1205,
// PostgreSQL's SQLSTATE 40P01 and 40001; or refused a write for the
// foreign key from attempts to events, which only a purge deleting an
// event while an attempt of it is stored makes fail (see Purge). fn must
// be safe to repeat: an aborted transaction or statement changed nothing
// (after 1205 InnoDB rolls back the statement, and fn's transaction is
// rolled back whole).
func retryDeadlocks(ctx context.Context, fn func() error) error {
	const tries = 5
	for i := 1; ; i++ {
		err := fn()
		if err == nil || i == tries || !isDeadlock(err) && !isForeignKeyViolation(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i) * time.Millisecond):
		}
	}
}

// isForeignKeyViolation reports whether err is the refusal of a write that
// would leave an attempt without its event: SQLSTATE 23503 (PostgreSQL),
// error 1451 or 1452 (MySQL).
func isForeignKeyViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23503") || strings.Contains(msg, "Error 1451") || strings.Contains(msg, "Error 1452")
}

func isDeadlock(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Error 1213") || strings.Contains(msg, "Error 1205") ||
		strings.Contains(msg, "SQLSTATE 40P01") || strings.Contains(msg, "SQLSTATE 40001")
}

// claimed runs query, which returns attempts with their payload and
// whether they are reclaimed, then their trace parent, and returns them as
// jobs leased as req asks.
func (s *Store) claimed(ctx context.Context, q querier, req delivery.ClaimRequest, query string, args ...any) ([]delivery.Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim: %w", err)
	}
	defer rows.Close()
	var jobs []delivery.Job
	for rows.Next() {
		var j delivery.Job
		if j.Attempt, err = scanAttempt(rows, &j.Payload, &j.Reclaimed, &j.TraceParent); err != nil {
			return nil, fmt.Errorf("sqlstore: claim: %w", err)
		}
		j.Lease = delivery.Lease{Owner: req.Owner, Until: req.Until.UTC()}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: claim: %w", err)
	}
	return jobs, nil
}

// Release implements delivery.Store, with one transaction for up to 500
// IDs, which also brings their endpoints back into the line of claims.
func (s *Store) Release(ctx context.Context, owner string, ids ...string) error {
	if len(ids) == 0 || owner == "" {
		return ctx.Err()
	}
	for chunk := range slices.Chunk(ids, insertBatch) {
		args := make([]any, 0, len(chunk)+1)
		args = append(args, owner)
		for _, id := range chunk {
			args = append(args, id)
		}
		query := s.dialect.rebind(s.q.release + placeholders(len(chunk)))
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, query, args...); err != nil {
				return fmt.Errorf("sqlstore: release: %w", err)
			}
			return s.wake(ctx, tx, chunk)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Cancel implements delivery.Store.
func (s *Store) Cancel(ctx context.Context, req delivery.CancelRequest) (int, error) {
	if err := req.Validate(); err != nil {
		return 0, fmt.Errorf("sqlstore: %w", err)
	}
	mark, cancel, args := s.cancelStatements(req)
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, mark, args...); err != nil {
			return fmt.Errorf("sqlstore: cancel: %w", err)
		}
		res, err := tx.ExecContext(ctx, cancel, args...)
		if err != nil {
			return fmt.Errorf("sqlstore: cancel: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// cancelStatements returns the statements of Cancel, which take the same
// arguments: mark asks the holders of leased attempts to cancel them,
// cancel cancels those no lease holds.
func (s *Store) cancelStatements(req delivery.CancelRequest) (mark, cancel string, args []any) {
	var where []string
	if req.EventID != "" {
		where, args = append(where, "event_id = ?"), append(args, req.EventID)
	}
	if req.EndpointID != "" {
		where, args = append(where, "endpoint_id = ?"), append(args, req.EndpointID)
	}
	args = append(args, s.dialect.timeArg(req.Now))
	table := s.prefix + "attempts"
	// By event, the index of attempt numbers finds the event's few
	// attempts; by endpoint alone, the queue index its pending ones.
	status := "status"
	if req.EventID != "" {
		status = s.dialect.unindexed(status)
	}
	cond := " WHERE " + status + " = 2 AND " + strings.Join(where, " AND ")
	mark = s.dialect.rebind("UPDATE " + table + " SET cancel_requested = TRUE" + cond + " AND lease_owner IS NOT NULL AND lease_until > ?")
	cancel = s.dialect.rebind("UPDATE " + table + " SET status = 3, lease_owner = NULL, lease_until = NULL" + cond +
		" AND (lease_owner IS NULL OR lease_until <= ?)")
	return mark, cancel, args
}

// Get implements delivery.Store.
func (s *Store) Get(ctx context.Context, id string) (delivery.Attempt, error) {
	a, err := scanAttempt(s.db.QueryRowContext(ctx, s.q.get, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return delivery.Attempt{}, fmt.Errorf("sqlstore: attempt %s: %w", id, delivery.ErrNotFound)
	case err != nil:
		return delivery.Attempt{}, fmt.Errorf("sqlstore: get %s: %w", id, err)
	}
	return a, nil
}

// List implements delivery.Store.
func (s *Store) List(ctx context.Context, q delivery.ListQuery) (delivery.Page, error) {
	if err := q.Validate(); err != nil {
		return delivery.Page{}, err
	}
	limit := q.PageLimit()
	query, args := s.listQuery(q, limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return delivery.Page{}, fmt.Errorf("sqlstore: list: %w", err)
	}
	defer rows.Close()
	var page delivery.Page
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return delivery.Page{}, fmt.Errorf("sqlstore: list: %w", err)
		}
		page.Attempts = append(page.Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return delivery.Page{}, fmt.Errorf("sqlstore: list: %w", err)
	}
	if len(page.Attempts) > limit {
		page.Attempts = page.Attempts[:limit]
		page.Next = page.Attempts[limit-1].ID
	}
	return page, nil
}

// Event implements delivery.Store.
func (s *Store) Event(ctx context.Context, eventID string) (delivery.Event, error) {
	ev := delivery.Event{ID: eventID}
	err := s.db.QueryRowContext(ctx, s.q.event, eventID).Scan(&ev.Type, &ev.Payload)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return delivery.Event{}, fmt.Errorf("sqlstore: event %s: %w", eventID, delivery.ErrNotFound)
	case err != nil:
		return delivery.Event{}, fmt.Errorf("sqlstore: event %s: %w", eventID, err)
	}
	return ev, nil
}

// listQuery returns the statement and arguments of List: the page of q,
// with one more row to tell whether another page follows.
func (s *Store) listQuery(q delivery.ListQuery, limit int) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where, args = append(where, cond), append(args, arg)
	}
	// Each endpoint once: the merge below would list an endpoint named
	// twice twice.
	q.EndpointIDs = slices.Compact(slices.Sorted(slices.Values(q.EndpointIDs)))
	order := "id"
	if q.Descending {
		order = "id DESC"
	}
	switch {
	case q.After != "" && q.Descending:
		add("id < ?", q.After)
	case q.After != "":
		add("id > ?", q.After)
	}
	if q.EventID != "" {
		add("event_id = ?", q.EventID)
	}
	if q.EndpointID != "" {
		add("endpoint_id = ?", q.EndpointID)
	}
	if len(q.EndpointIDs) > mergedEndpoints {
		where = append(where, "endpoint_id IN "+placeholders(len(q.EndpointIDs)))
		for _, id := range q.EndpointIDs {
			args = append(args, id)
		}
	}
	if q.EventType != "" {
		add("event_type = ?", q.EventType)
	}
	if len(q.Statuses) > 0 {
		// The statuses are written into the statement, not passed as
		// parameters, so that the planner sees them: a plan made for a
		// parameter can use no partial index, and on PostgreSQL the
		// indexes on status hold no pending attempt, which the queue
		// index holds instead.
		codes := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			codes[i] = strconv.Itoa(int(st))
		}
		// The index on status holds no successes (most attempts: a page
		// of them is read in ID order). A query for other statuses says
		// so in the words of the index's predicate, which is how SQLite
		// sees that the partial index holds every row it asks for; one
		// for successes keeps SQLite, which plans without statistics,
		// from reading them all through the index on status and
		// scheduled time to sort them (a unary plus makes the term one
		// that no index serves).
		column := "status"
		if slices.Contains(q.Statuses, delivery.StatusSuccess) {
			column = s.dialect.unindexed(column)
		} else {
			where = append(where, "status <> 0")
		}
		where = append(where, column+" IN ("+strings.Join(codes, ", ")+")")
	}
	d := s.dialect
	for _, r := range []struct {
		col      string
		from, to time.Time
	}{{"scheduled_at", q.ScheduledFrom, q.ScheduledTo}, {"attempted_at", q.AttemptedFrom, q.AttemptedTo}} {
		if !r.from.IsZero() {
			add(r.col+" >= ?", d.timeArg(r.from))
		}
		if !r.to.IsZero() {
			add(r.col+" < ?", d.timeArg(r.to))
		}
	}
	page := func(where []string, hint string) string {
		query := s.q.list + hint
		if len(where) > 0 {
			query += " WHERE " + strings.Join(where, " AND ")
		}
		return query + " ORDER BY " + order + " LIMIT ?"
	}
	if n := len(q.EndpointIDs); n == 0 || n > mergedEndpoints {
		return d.rebind(page(where, "")), append(args, limit+1)
	}
	// A few endpoints: the page of each, read from its own range of an
	// index that leads with the endpoint, then merged. The cost is that of
	// reading one page per endpoint, however many attempts each one holds.
	where = append(where, "endpoint_id = ?")
	index := "_endpoint"
	if q.EventType != "" {
		index = "_endpoint_type"
	}
	hint := d.indexHint(s.prefix+"attempts", index)
	parts := make([]string, len(q.EndpointIDs))
	var all []any
	for i, id := range q.EndpointIDs {
		parts[i] = "SELECT * FROM (" + page(where, hint) + ") AS p" + strconv.Itoa(i)
		all = append(append(append(all, args...), id), limit+1)
	}
	return d.rebind(strings.Join(parts, " UNION ALL ") + " ORDER BY " + order + " LIMIT ?"), append(all, limit+1)
}

// mergedEndpoints is the most ListQuery.EndpointIDs that List reads one
// index range each for, merging their pages. More are read with one
// filtered scan, in the order of IDs.
const mergedEndpoints = 32
