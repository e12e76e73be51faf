package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/webhookkit/delivery"
)

// DefaultGroupCommit is the default of Config.GroupCommit: the most writes
// one transaction carries.
const DefaultGroupCommit = 128

// write is one Insert or Complete, or on SQLite one Claim, waiting for its
// transaction.
type write struct {
	// jobs are an Insert's checked jobs.
	jobs []delivery.Job
	// id and args are a Complete's attempt and its UPDATE's arguments,
	// final the attempt as completed; next is its checked retry, or nil.
	id    string
	args  []any
	final delivery.Attempt
	next  *delivery.Job
	// claim is a Claim's request, claimCtx its caller's context (a claim
	// whose caller has gone is not run), and claimed what it leased.
	claim    *delivery.ClaimRequest
	claimCtx context.Context
	claimed  []delivery.Job

	ctx context.Context
	// taken is set, under committer.mu, once a transaction holds the write.
	taken bool
	// err is the write's outcome, and alone asks its caller to run it in a
	// transaction of its own because the shared one failed; both are set
	// before done is closed.
	err   error
	alone bool
	done  chan struct{}
}

// committer makes concurrent writes share transactions (group commit). A
// write that finds nothing queued and no transaction running runs alone at
// once, so that a lone write waits for no timer and no other goroutine.
// Writes that arrive while a transaction runs queue up; when it ends, a
// flusher goroutine takes up to max of them into one transaction, commits
// it, and goes on while writes are queued. A second flusher, up to
// flushers, starts only when a full batch is queued. A write returns only
// after its transaction committed, so it is as durable as it would be
// alone; what is saved is a commit (on SQLite, a sync of the file) and,
// on servers, round trips per write.
type committer struct {
	max      int
	flushers int
	// run runs a batch of writes atomically: it sets each write's err,
	// or returns an error when nothing of the batch was stored. alone runs
	// one write in a transaction of its own.
	run   func(ctx context.Context, batch []*write) error
	alone func(ctx context.Context, w *write) error
	// onBatch, when set (by tests), is told every batch.
	onBatch func(batch []*write)

	mu      sync.Mutex
	queue   []*write
	running int
}

// do runs w in a transaction shared with other writes, and returns its
// outcome once that transaction committed. When the shared transaction
// fails, w runs again in a transaction of its own, so that one bad write
// never fails the others and each caller gets the error of its own write.
// When ctx ends while the write is queued, it is dropped and ctx's error
// returned; when it ends while the write's transaction runs, ctx's error
// is returned and the write may or may not commit, as with any write
// whose context ends.
func (c *committer) do(ctx context.Context, w *write) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.max <= 1 {
		return c.alone(ctx, w)
	}
	c.mu.Lock()
	if len(c.queue) == 0 && c.running == 0 {
		// Nothing to share a transaction with: run alone, as a flusher, so
		// that writes arriving meanwhile queue up for one transaction.
		c.running++
		c.mu.Unlock()
		err := c.alone(ctx, w)
		c.mu.Lock()
		c.running--
		c.startFlusher()
		c.mu.Unlock()
		return err
	}
	w.ctx, w.done = ctx, make(chan struct{})
	c.queue = append(c.queue, w)
	c.startFlusher()
	c.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		c.mu.Lock()
		if !w.taken {
			c.queue = slices.DeleteFunc(c.queue, func(q *write) bool { return q == w })
		}
		c.mu.Unlock()
		return ctx.Err()
	}
	if w.alone {
		return c.alone(ctx, w)
	}
	return w.err
}

// startFlusher starts a flusher if writes are queued and none runs, or a
// full batch is queued and fewer than c.flushers run. The caller holds
// c.mu.
func (c *committer) startFlusher() {
	if len(c.queue) > 0 && (c.running == 0 || len(c.queue) >= c.max && c.running < c.flushers) {
		c.running++
		go c.flush()
	}
}

// flush commits queued writes until the queue is empty.
func (c *committer) flush() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		n := min(len(c.queue), c.max)
		batch := slices.Clone(c.queue[:n])
		c.queue = slices.Delete(c.queue, 0, n)
		for _, w := range batch {
			w.taken = true
		}
		c.mu.Unlock()
		c.commit(batch)
	}
}

// commit runs batch in one transaction and tells each write its outcome.
func (c *committer) commit(batch []*write) {
	if c.onBatch != nil {
		c.onBatch(batch)
	}
	ctx, cancel := batchContext(batch)
	defer cancel()
	err := c.run(ctx, batch)
	for _, w := range batch {
		if err != nil {
			// Nothing of the batch committed. A write that ran alone has its
			// own error, unless the engine broke a deadlock; the others run
			// again, each alone.
			w.err, w.alone = err, len(batch) > 1 || isDeadlock(err)
		}
		close(w.done)
	}
}

// batchContext returns the context a batch runs in: it ends at the latest
// deadline of the batch's writes, or never when one of them has none, so
// that the batch outlives no write that waits for it.
func batchContext(batch []*write) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, w := range batch {
		d, ok := w.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// soft reports whether err is a write's outcome that leaves its
// transaction usable: the attempt to complete was missing or not pending.
func soft(err error) bool {
	return errors.Is(err, delivery.ErrNotFound) || errors.Is(err, delivery.ErrNotPending)
}

// runWrite runs one write's statements on q, a transaction, and notes in
// ds what they change for endpoints. events says whether it stores the
// events of its new attempts; runEach stores a whole batch's at once.
func (s *Store) runWrite(ctx context.Context, q querier, w *write, ds deltas, events bool) error {
	q = s.stmts.on(q)
	if w.jobs != nil {
		if err := s.insert(ctx, q, w.jobs, events); err != nil {
			return err
		}
		for _, j := range w.jobs {
			ds.work(j)
		}
		return nil
	}
	if err := s.complete(ctx, q, w.id, w.args); err != nil {
		return err
	}
	ds.done(w.final.EndpointID, w.final)
	if w.next == nil {
		return nil
	}
	var canceled bool
	if err := q.QueryRowContext(ctx, s.q.cancelRequested, w.id).Scan(&canceled); err != nil {
		return fmt.Errorf("sqlstore: complete %s: %w", w.id, err)
	}
	if canceled {
		return nil
	}
	if err := s.insert(ctx, q, []delivery.Job{*w.next}, events); err != nil {
		return err
	}
	ds.work(*w.next)
	return nil
}

// writeAlone runs w in a transaction of its own.
func (s *Store) writeAlone(ctx context.Context, w *write) error {
	if w.claim != nil {
		if err := w.claimCtx.Err(); err != nil {
			return err
		}
		return s.inTx(ctx, func(tx *sql.Tx) (err error) {
			w.claimed, err = s.claimIn(ctx, tx, *w.claim)
			return err
		})
	}
	if s.dialect == Postgres {
		// As a batch of one; w.err may hold the outcome of a shared batch
		// that failed.
		w.err = nil
		err := retryDeadlocks(ctx, func() error { return s.runBatchStatement(ctx, []*write{w}) })
		if err != nil {
			return err
		}
		return w.err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		ds := deltas{}
		if err := s.runWrite(ctx, tx, w, ds, true); err != nil {
			return err
		}
		return s.applyDeltas(ctx, tx, ds)
	})
}

// runBatch runs batch atomically: on PostgreSQL as one statement, on
// SQLite and MySQL as one transaction in which each write runs its own
// prepared statements.
func (s *Store) runBatch(ctx context.Context, batch []*write) error {
	if s.dialect == Postgres {
		return s.runBatchStatement(ctx, batch)
	}
	return s.runEach(ctx, batch)
}

// runEach runs each write of batch with its own statements, in one
// transaction. Claims run last, so that they see the room and the turns
// that the batch's completions and new attempts give endpoints.
func (s *Store) runEach(ctx context.Context, batch []*write) error {
	s.stmts.prepareAll(ctx)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	// The batch's new events first, with one statement for them all
	// rather than one for each write.
	var jobs []delivery.Job
	for _, w := range batch {
		jobs = append(jobs, w.jobs...)
		if w.next != nil {
			jobs = append(jobs, *w.next)
		}
	}
	if err := s.insertEvents(ctx, tx, jobs); err != nil {
		_ = tx.Rollback()
		return err
	}
	ds := deltas{}
	// Events stored for a next attempt that may not be stored (its
	// completion failed, or a cancel dropped it), unless the completed
	// attempt's event is the same and keeps it.
	var dropped []string
	var claims []*write
	for _, w := range batch {
		if w.claim != nil {
			claims = append(claims, w)
			continue
		}
		if w.err = s.runWrite(ctx, tx, w, ds, false); w.err != nil && !soft(w.err) {
			_ = tx.Rollback()
			return w.err
		}
		if w.next != nil && (w.err != nil || w.next.Attempt.EventID != w.final.EventID) {
			dropped = append(dropped, w.next.Attempt.EventID)
		}
	}
	if err := s.deleteOrphans(ctx, tx, dropped); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := s.applyDeltas(ctx, tx, ds); err != nil {
		_ = tx.Rollback()
		return err
	}
	for _, w := range claims {
		if w.err = w.claimCtx.Err(); w.err != nil {
			continue
		}
		if w.claimed, w.err = s.claimIn(ctx, tx, *w.claim); w.err != nil {
			_ = tx.Rollback()
			return w.err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

// runBatchStatement runs batch on PostgreSQL with one statement, so that
// it costs one round trip and one plan: data-modifying WITH clauses
// complete the attempts, insert the new rows, retries only for attempts
// that were completed and whose cancellation was not requested, and write
// what that changes for the endpoints.
func (s *Store) runBatchStatement(ctx context.Context, batch []*write) error {
	var completes []*write
	var completeRows, insertRows [][]any
	for _, w := range batch {
		jobs, after := w.jobs, any(nil)
		if jobs == nil {
			completes = append(completes, w)
			completeRows = append(completeRows, w.args)
			if w.next == nil {
				continue
			}
			jobs, after = []delivery.Job{*w.next}, w.id
		}
		for _, j := range jobs {
			row, err := s.rowArgs(j)
			if err != nil {
				return err
			}
			insertRows = append(insertRows, append(row, payloadArg(j), after))
		}
	}
	if len(insertRows) > insertBatch {
		// More rows than Insert puts in one statement.
		return s.runEach(ctx, batch)
	}
	completeArgs, err := pgArrays(completeRows, 9)
	if err != nil {
		return err
	}
	insertArgs, err := pgArrays(insertRows, insertArity+2) // and payload, after_id
	if err != nil {
		return err
	}
	// What the batch changes for endpoints if every completion is made.
	ds, deps := deltas{}, map[string][]string{}
	note := func(ds deltas, w *write, canceled bool) {
		for _, j := range w.jobs {
			ds.work(j)
		}
		if w.jobs == nil {
			ds.done(w.final.EndpointID, w.final)
			if w.next != nil && !canceled {
				ds.work(*w.next)
			}
		}
	}
	for _, w := range batch {
		note(ds, w, false)
		if w.jobs == nil {
			deps[w.final.EndpointID] = append(deps[w.final.EndpointID], w.id)
		}
	}
	endpointArgs, err := s.pgBatchArgs(ds, deps)
	if err != nil {
		return err
	}
	done, err := s.completed(ctx, s.db, slices.Concat(completeArgs, insertArgs, endpointArgs))
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("sqlstore: insert: %w", delivery.ErrDuplicate)
		}
		return err
	}
	// The batch is stored; a write's own outcome is all that is left, and
	// the endpoints of completions that were not made, whose changes the
	// statement left out, get those of the ones that were.
	skipped := map[string]bool{}
	for _, w := range completes {
		if _, ok := done[w.id]; !ok {
			w.err = s.notCompleted(ctx, s.db, w.id)
			skipped[w.final.EndpointID] = true
		}
	}
	if len(skipped) == 0 {
		return nil
	}
	again := deltas{}
	for _, w := range batch {
		endpoint := w.final.EndpointID
		if w.jobs != nil || !skipped[endpoint] {
			continue
		}
		if canceled, ok := done[w.id]; ok {
			note(again, w, canceled)
		}
	}
	for _, w := range batch {
		for _, j := range w.jobs {
			if skipped[j.Attempt.EndpointID] {
				again.work(j)
			}
		}
	}
	return retryDeadlocks(ctx, func() error { return s.applyDeltas(ctx, s.db, again) })
}

// completed runs the PostgreSQL batch statement with args, and returns
// the IDs of the attempts it completed, each with its cancel_requested.
func (s *Store) completed(ctx context.Context, q querier, args []any) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, s.q.batch, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: complete: %w", err)
	}
	defer rows.Close()
	done := make(map[string]bool)
	for rows.Next() {
		var id string
		var canceled bool
		if err := rows.Scan(&id, &canceled); err != nil {
			return nil, fmt.Errorf("sqlstore: complete: %w", err)
		}
		done[id] = canceled
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: complete: %w", err)
	}
	return done, nil
}
