// Package sqlstore is a delivery.Store on database/sql: SQLite as the
// embedded default, PostgreSQL and MySQL/MariaDB in production.
//
// It imports no driver. The host imports the one it uses, as database/sql
// intends, and New tells the dialect from it (or Config.Dialect says it):
//
//	SQLite      modernc.org/sqlite (pure Go), or github.com/mattn/go-sqlite3
//	PostgreSQL  github.com/jackc/pgx/v5/stdlib, or github.com/lib/pq; version 12 or later
//	MySQL       github.com/go-sql-driver/mysql; MySQL 8, or MariaDB 10.6 or later
//
// # Setting up
//
// The schema is created by Migrate, which the host calls explicitly, at
// start-up; nothing migrates implicitly. Migrate is idempotent and safe
// when several processes start at once. A host that runs its own migration
// tool applies the files of Migrations instead. All table and index names
// start with Config.TablePrefix ("delivery_" by default), so that the
// tables sit beside the host's own.
//
// # Notifications
//
// On PostgreSQL, InsertTx (and so EnqueueTx) sends a notification on
// NotifyChannel in the host's transaction; PostgreSQL delivers it when the
// transaction commits, and never if it rolls back. A worker in any process
// that listens with the pgnotify subpackage claims the new attempts at
// once instead of at its next poll. Config.NoNotify turns it off.
//
// # Upgrading
//
// Migration 0002 makes attempt numbers unique per event and endpoint (a
// unique index on event_id, endpoint_id, attempt_number) and adds the
// column that keeps a reclaimed attempt's mark across a release. Before the
// index is built, it numbers again, consecutively, the attempts of any
// event and endpoint that share a number (an event enqueued twice, an
// attempt superseded for a changed URL), in the order of their numbers,
// then IDs; every other attempt keeps its number. Stop the workers and
// enqueuers of the previous version before running it: one that enqueued a
// duplicate while it ran would make the index fail to build (run Migrate
// again to finish), and one that claimed after it would not see the new
// column. On MySQL, which commits DDL statement by statement, a migration
// interrupted midway must be finished by hand (see Migrate).
//
// Migration 0003 adds the endpoints table (see Endpoints below), gives
// every endpoint with pending attempts its turn, replaces the index of due
// attempts with the two a claim reads per endpoint, and on PostgreSQL
// creates the claim function. Stop every process of the previous version
// before running it: their inserts would not give endpoints their turns,
// so a worker of this version would not claim them until the endpoint's
// next insert.
//
// Migration 0004 adds the trace_parent column, which keeps the W3C trace
// context of the code that enqueued an attempt (delivery.Job.TraceParent):
// with a constant default, it rewrites no row on PostgreSQL and is an
// instant change on MariaDB. On PostgreSQL it also re-creates the claim
// function, which returns the column. Stop the workers of the previous
// version before running it: their claims would fail on the function's
// new result. Their inserts keep working, without a trace context.
//
// Migration 0005 changes indexes only. On PostgreSQL it rebuilds the index
// on status and ID without pending attempts, as 0003 did the one on status
// and scheduled time: with pending attempts in it, a claim planned while
// statistics counted few of them read every pending attempt through it
// once a backlog had grown (a claim of 16 fetched 100,016 rows through
// indexes with 5,000 attempts due; it fetches 32 now, as
// TestPostgresClaimAfterStaleStatistics checks). The rebuild blocks writes to
// the attempts table while it runs. On MySQL it adds an index on status
// and scheduled time, which Purge reads (PostgreSQL and SQLite had one),
// built online. Workers of the previous version may run through either.
//
// Migration 0006 adds two indexes for reading the audit trail as the
// portal does: (endpoint_id, event_type, id), for one customer's attempts
// of one event type newest first, and (endpoint_id, attempted_at, status)
// of final attempts (of every attempt on MySQL), for Activity's counts per
// hour. Workers of the previous version may run through it. On PostgreSQL
// the build blocks writes to the attempts table while it runs (a few
// seconds per million attempts); to avoid that, create the two indexes
// CONCURRENTLY by hand first, with the names and definitions of the
// migration, which creates them only if they do not exist. MySQL and
// MariaDB build them online. Each costs one index write per delivery: the
// first at insert, the second at completion.
//
// Migration 0007 drops the index on (event_id, id): the unique index on
// (event_id, endpoint_id, attempt_number) serves every query by event, and
// the dropped one cost an index write at every insert and completion.
// Workers of the previous version may run through it.
//
// Migration 0008 moves payloads out of the attempts table into the new
// events table, one row per event, keeping for each event the payload of
// its attempt of greatest ID (the one Store.Event returned before), then
// drops the payload column and, on PostgreSQL and MySQL, makes every
// attempt reference its event. On PostgreSQL it also re-creates the claim
// function, which reads the payload from the event. Stop every worker and
// enqueuer of the previous version before running it: their inserts and
// claims name the dropped column and fail until they are upgraded. It
// reads every attempt once and writes every event once; dropping the
// column is instant on PostgreSQL (the space comes back as rows are
// rewritten, or with VACUUM FULL), while SQLite and MySQL rewrite the
// table. TestMigratePopulated runs it on a populated database of each
// engine.
//
// Migration 0009, on PostgreSQL only, re-creates the claim function so
// that an endpoint whose due attempt the claim skipped, because another
// transaction held its row for the moment, keeps its turn; before, the
// attempt waited for the endpoint's next insert or completion. Workers of
// the previous version may run through it. (MySQL and SQLite claim
// without a function, and the fix comes with the code.)
//
// Migration 0010, on SQLite and PostgreSQL, rebuilds the index on status
// and ID without successes: they are most attempts, and a page of them is
// found by reading attempts in ID order, while failures, cancellations
// (and on SQLite pending attempts) keep the index that a page of them
// needs. It saves about 30 bytes an attempt on SQLite and 40 on
// PostgreSQL, and the index write of every successful completion. The
// rebuild reads the attempts table once and blocks writes to it while it
// runs (a few seconds per million attempts). Workers of the previous
// version may run through it.
//
// Files that OpenSQLite or SQLiteDSN created before this version have no
// auto-vacuum: Purge's freed pages are reused for new attempts, but the
// file does not shrink until "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;"
// is run on it once, with no process using it (VACUUM rewrites the file
// and needs as much free disk again).
//
// The Store implements delivery.StatsStore: QueueStats reads the pending
// attempts from the queue index alone, grouped by endpoint, then probes
// the endpoints table once per endpoint with due work and reads it once
// to count endpoint states. Its cost grows with the pending attempts that
// are due, not with the table.
//
// SQLite, the embedded default, in one call:
//
//	import _ "modernc.org/sqlite"
//
//	db, err := sqlstore.OpenSQLite("deliveries.db")
//	...
//	store, err := sqlstore.New(db, nil)
//	...
//	err = store.Migrate(ctx)
//
// OpenSQLite sets write-ahead logging, a 5 s busy timeout, synchronous=FULL,
// incremental auto-vacuum, immediate transactions and a single connection,
// so that no "database is locked" error reaches the caller under
// concurrent use. A host that opens
// the database itself should use SQLiteDSN and SetMaxOpenConns(1). SQLite
// serves one process.
//
// PostgreSQL:
//
//	import _ "github.com/jackc/pgx/v5/stdlib"
//
//	db, err := sql.Open("pgx", "postgres://user@host:5432/app")
//
// MySQL or MariaDB; the DSN must keep the default loc=UTC (parseTime may be
// on or off):
//
//	import _ "github.com/go-sql-driver/mysql"
//
//	db, err := sql.Open("mysql", "user:pass@tcp(host:3306)/app")
//
// Keep enough idle connections. database/sql keeps 2 by default, so with
// more concurrent deliveries each one opens a new connection, which on
// PostgreSQL costs a process fork: a worker draining a backlog ran 8 times
// slower so. Call db.SetMaxIdleConns with at least Config.Workers plus the
// Deliver calls you run at once.
//
// On PostgreSQL, a table that was never analyzed is planned for as if it
// were nearly empty, and a prepared statement, or the claim function,
// keeps the plan it got while the table was small until the table is
// first analyzed: until then a group commit of completions reads the
// attempts table whole instead of through its primary key, and so does a
// claim. Autovacuum analyzes a table within its first minute of writes
// (autovacuum_naptime), and plans are made again then. A host that
// creates the tables and loads them at once, such as a test or a
// benchmark, can run ANALYZE on the attempts table once it holds a few
// thousand attempts (with 1,000 the plan still read the table whole, with
// 2,000 it used the primary key): in the bench's Deliver at 64 concurrent
// deliveries on fresh tables, analyzing after 2,000 deliveries was worth
// 1.2 times the throughput. Completing in a function that plans its UPDATE
// at every call, or that rules out sequential scans, avoids the trap, but
// the call costs every group commit: measured at 64 concurrent
// deliveries on analyzed tables, 0.83 to 0.93 times the throughput. The
// first minute's analyze is the cheaper remedy.
//
// On PostgreSQL and MySQL many processes can share one database: Claim
// selects with FOR UPDATE SKIP LOCKED, so that two processes never take
// the same attempt while its lease holds, and Config.PerEndpoint holds
// across all of them (see Endpoints).
//
// Drop deletes everything Migrate created, for tests that share a
// database.
//
// # Endpoints
//
// PREFIXendpoints holds a row per endpoint that ever had an attempt or a
// health record: its turn in the claims (ready_at, with served and
// saturated to order and park it) and its health (the streak of failures,
// when it began, the last status and error, the pause, the breaker's
// cool-down, and when the endpoint was disabled), so that every process
// agrees on it.
//
// A claim locks the rows of the endpoints whose turn has come, first in
// line first, with FOR UPDATE SKIP LOCKED, so that concurrent claimers
// serve different endpoints; counts each one's leases in a later
// statement, which sees every lease committed before the lock was granted,
// so that PerEndpoint is exact across processes; leases due attempts up to
// each one's room; and writes each endpoint's next turn: now, behind the others, when it may have more
// (or its locking read skipped a due attempt another transaction held); the
// end of its first lease when it has no room (a completion brings it back
// at once); its next due time; or none. Its cost follows the endpoints it
// serves, not the backlog of any one nor the number of endpoints waiting:
// an endpoint that is paused, disabled, without room or without due work
// is not in the range of the index a claim reads. On PostgreSQL the whole
// claim is one call of a PL/pgSQL function, PREFIXclaim, so that it costs
// one round trip; on MySQL it runs at READ COMMITTED, so that the count
// sees what committed since the transaction began. On both, a claim goes
// round the endpoints it locked one attempt at a time, so that one whose
// Limit runs out serves as many endpoints as it can (see delivery.Store,
// Fair claims).
//
// On SQLite a claim serves each endpoint in one piece instead, as many of
// its due attempts as its room allows, then the next endpoint in line,
// until Limit runs out; the endpoints after that keep their place at the
// head of the line. Then a group commit of completions holds the attempts
// of a few endpoints, not one of each of many, and the indexes in endpoint
// order (the queue, the leases, the sent attempts) change a page or two
// per endpoint in it rather than one per attempt: draining 20,000 attempts
// to ten endpoints wrote a third fewer pages, and ran 1.1 times as fast.
// A waiting endpoint can be served a claim later than it would be going
// round, by up to PerEndpoint attempts of each endpoint ahead of it; an
// endpoint's turns come as often either way.
//
// Every write keeps the rows up to date in the same transaction: an insert
// gives its endpoint a turn if it has none that comes earlier, and a
// completion records the outcome in the endpoint's health and brings the
// endpoint back if it was waiting for a place. So writes to one endpoint
// wait for each other at its row: on PostgreSQL an InsertTx holds the row
// of each endpoint it enqueued to until the host's transaction ends, so
// that concurrent transactions that enqueue to the same endpoint commit one
// after the other. Keep such transactions short, or enqueue after them
// with Insert. A group commit touches its endpoints' rows in the order of
// their IDs.
//
// # Group commit
//
// Concurrent Insert and Complete calls share transactions. A call that
// finds no transaction of the Store running writes at once, alone, in one
// statement where it can; calls that arrive meanwhile queue up, and when
// the running transaction ends, up to Config.GroupCommit (128) of them go
// into the next one. Every call still returns only after its own
// transaction committed, so durability is exactly that of a transaction a
// call: nothing is acknowledged before it is on disk, and no write waits on
// a timer. What is shared is the commit (on SQLite with synchronous=FULL,
// a sync of the file) and, on servers, round trips: on PostgreSQL a batch
// is a single statement that takes its rows as arrays (one per column,
// unnested), so that the server plans it once; on SQLite and MySQL a batch
// is one transaction in which each write runs its own prepared statements.
//
// On SQLite, which runs one transaction at a time anyway, Claim queues like
// a write and runs in the same transaction, after the batch's inserts and
// completions, so that it sees the room and the turns they give. A claim
// then costs no commit of its own, nor a wait for the one connection that
// OpenSQLite allows. With claims served in one piece, a drain of 20,000 on
// SQLite made a fifth fewer commits and ran 1.4 times as fast as with
// neither (see BENCHMARKS.md). A claim whose context ends while its
// transaction runs leases nothing: it is skipped, or what it leased is
// released at once, so that no attempt stays leased to a caller who has
// gone and is taken over later as if it might have been sent.
//
// A write's outcome is its own: one that finds its attempt missing or
// final gets ErrNotFound or ErrNotPending while the others commit; any
// other failure rolls the batch back and each of its writes runs again in
// a transaction of its own, so that it gets the error it would have had
// alone (ErrDuplicate, say). A call whose context ends while it is queued
// is dropped; one whose context ends while its transaction runs returns
// the context's error, and its write may or may not have committed, as
// with any write whose context ends. Set Config.GroupCommit to 1 to give
// every call a transaction of its own.
//
// # Storage
//
// PREFIXattempts holds every attempt, and PREFIXevents each event once: its
// ID, its type and its payload, stored with its first attempt and shared
// by all of them, so that an event sent to ten endpoints and retried keeps
// one copy of its payload, not one per attempt (see delivery.Store,
// Events). On PostgreSQL and MySQL every attempt references its event with
// a foreign key. Status is stored as its integer (success 0, failure 1,
// pending 2, canceled 3). Response bodies and payloads are stored as bytes
// (BYTEA, BLOB, LONGBLOB), so any byte sequence, invalid UTF-8 included,
// round-trips unchanged. Response headers are stored as JSON text; header
// text that is not valid UTF-8 is stored with U+FFFD in its place, as
// encoding/json writes it. Times are stored in UTC at microsecond precision:
// TIMESTAMPTZ on PostgreSQL, DATETIME(6) on MySQL, Unix microseconds on
// SQLite.
//
// Text columns hold UTF-8 without NUL bytes, within these limits, which
// every dialect checks the same way before it writes, so that an
// over-long value fails with a clear error and stores nothing: attempt IDs
// up to 64 bytes; event IDs, event types, endpoint IDs and lease owners up
// to 255 characters; endpoint URLs up to 2,048 characters.
//
// Every statement is parameterized.
//
// The Store implements delivery.PurgeStore. Purge is one short transaction:
// it deletes at most its limit of attempts, found through the index on
// status and scheduled time (a range of it per final status) and deleted
// by primary key, then the events of those attempts that no attempt is
// left to reference. It skips the rows another purge holds (SKIP LOCKED),
// so that concurrent purges never wait for each other, and it never
// touches a pending row, so a claim never waits for it. An attempt of an
// event stored while a purge deletes that event makes the engine refuse
// one of the two, by the foreign key: the purge then runs again, and an
// insert returns the error. On SQLite it then returns
// the freed pages to the file system (PRAGMA incremental_vacuum; see
// SQLiteDSN). PostgreSQL leaves dead rows to autovacuum, which makes their
// space free for new rows without shrinking the files; VACUUM FULL or
// pg_repack shrinks them, with the locks they take. InnoDB likewise reuses
// the pages of deleted rows; OPTIMIZE TABLE rebuilds the table smaller.
//
// # Indexes
//
// Every hot query is served by an index, so that its cost does not grow
// with the table, and every index serves a query; each one costs a write
// at every insert, and at every completion, which PostgreSQL cannot make a
// HOT update because it changes the status. A queue table of pending work
// beside the attempts would let completions be HOT; measured, its own
// insert and delete cost the database what the HOT updates save, so
// pending work stays in the attempts table (BENCHMARKS.md, Lean writes on
// PostgreSQL). The attempts table has:
//
//	primary key (id)                  Get, Complete, a group commit, Purge's deletes
//	queue (endpoint_id, scheduled_at, id), pending only
//	                                  a claim's due attempts per endpoint, QueueStats,
//	                                  Activity's backlogs, Cancel by endpoint
//	leased (endpoint_id, lease_until), pending and leased only
//	                                  a claim's count of an endpoint's leases
//	number (event_id, endpoint_id, attempt_number), unique
//	                                  unique attempt numbers; List and Cancel by
//	                                  event, Resend's last attempt, the foreign key
//	                                  to events
//	endpoint (endpoint_id, id)        List by endpoint, a portal's pages
//	endpoint_type (endpoint_id, event_type, id)
//	                                  List by endpoint and event type
//	sent (endpoint_id, attempted_at, status), final only
//	                                  Activity's counts per hour
//	status (status, id), no successes List by status
//	status_scheduled (status, scheduled_at)
//	                                  Purge, List by status and time
//
// On PostgreSQL the last two hold final attempts only. The status index
// holds no successes on SQLite and PostgreSQL: they are most attempts, so
// List of successes reads attempts in ID order and finds a page of them
// at once, unless nearly every attempt failed. On MySQL, which has
// no partial index, the queue and leased indexes lead with status, and
// sent holds every attempt. The endpoints table has its primary key and a
// partial index on ready_at, for the claim's line of endpoints. The events
// table has its primary key alone: Insert, Claim's payloads and Event read
// it by event ID.
//
// List with up to 32 EndpointIDs reads one range of the endpoint index (or of the endpoint and event type index)
// per endpoint, a page each, and merges them, so that a customer's page
// costs the same however many attempts each endpoint holds; with more,
// one scan in ID order filters by endpoint. Activity reads the queue index
// for backlogs and the index of sent attempts for its buckets, over the
// time range asked for alone (TestPortalPlans checks both on every
// engine). One exception, on PostgreSQL: no index holds
// pending attempts in ID order, since the planner, working from
// statistics taken while few attempts were pending, would read one
// endpoint's due attempts through it (see migration 0005); so List of
// pending attempts alone reads attempts in ID order and skips final ones,
// and its cost grows with the final attempts stored before the first
// pending one. Count the queue with QueueStats, which reads the queue
// index alone. TestPostgresPlansUseIndexes checks the
// PostgreSQL plans on 200,000 rows and 10,000 endpoints (and that the
// claim function reads no table whole); with -v it prints them, for
// instance a group commit:
//
//	CTE u
//	  ->  Update on delivery_attempts
//	        ->  Nested Loop
//	              ->  Function Scan on v
//	              ->  Index Scan using delivery_attempts_pkey on delivery_attempts
//	                    Index Cond: ((id)::text = (v.v_id)::text)
//	                    Filter: (status = 2)
//	...
//	CTE e
//	  ->  Insert on delivery_endpoints
//	        Conflict Resolution: UPDATE
//	        Conflict Arbiter Indexes: delivery_endpoints_pkey
//
// and a page of one endpoint's attempts:
//
//	Limit
//	  ->  Index Scan using delivery_attempts_endpoint on delivery_attempts
//	        Index Cond: ((endpoint_id = 'ep_7') AND (id > '01J...'))
package sqlstore
