package sqlstore

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// stmtCache prepares the Store's hot single-row statements once and
// reuses them, so that SQLite does not parse them, nor MySQL prepare and
// close them, on every write. PostgreSQL drivers cache statements
// themselves (pgx does by default), so it is not used there.
type stmtCache struct {
	db *sql.DB
	// hot holds the queries worth preparing, under mu.
	hot map[string]bool

	mu       sync.Mutex
	prepared map[string]*sql.Stmt
	// all is set once every hot query is prepared.
	all atomic.Bool
}

// prepareAll prepares every hot query not prepared yet, outside any
// transaction, so that transactions find them prepared. A query that
// cannot be prepared yet (before Migrate) is tried again on the next call.
func (p *stmtCache) prepareAll(ctx context.Context) {
	if p == nil || p.all.Load() {
		return
	}
	p.mu.Lock()
	queries := slices.Collect(maps.Keys(p.hot))
	p.mu.Unlock()
	all := true
	for _, query := range queries {
		all = p.get(ctx, query, false) != nil && all
	}
	p.all.Store(all)
}

// maxHot bounds the queries a stmtCache prepares.
const maxHot = 256

// wish makes query hot, to be prepared by the next prepareAll: a query
// built for a number of rows, which recurs with that number.
func (p *stmtCache) wish(query string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.hot[query] && len(p.hot) < maxHot {
		p.hot[query] = true
		p.all.Store(false)
	}
}

// get returns query prepared, or nil when it is not hot or cannot be
// prepared now, and the caller then runs it unprepared. A statement is
// prepared only outside transactions (inTx false): with SQLite's single
// connection held by the transaction, preparing would wait forever. It
// cannot be prepared before Migrate made the table, either.
func (p *stmtCache) get(ctx context.Context, query string, inTx bool) *sql.Stmt {
	p.mu.Lock()
	hot, st := p.hot[query], p.prepared[query]
	p.mu.Unlock()
	if !hot {
		return nil
	}
	if st != nil || inTx {
		return st
	}
	// Prepare without holding p.mu: preparing waits for a connection,
	// which a transaction that needs p.mu may hold.
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if had := p.prepared[query]; had != nil {
		_ = st.Close()
		return had
	}
	p.prepared[query] = st
	return st
}

// preparedQuerier runs the hot stmtCache of q prepared.
type preparedQuerier struct {
	q  querier
	st *stmtCache
}

// on returns q, a *sql.DB or *sql.Tx of the Store, running the hot
// stmtCache prepared.
func (p *stmtCache) on(q querier) querier {
	if p == nil {
		return q
	}
	return preparedQuerier{q: q, st: p}
}

// stmt returns query prepared for q, or nil.
func (p preparedQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	tx, inTx := p.q.(*sql.Tx)
	st := p.st.get(ctx, query, inTx)
	if inTx && st != nil {
		return tx.StmtContext(ctx, st)
	}
	return st
}

func (p preparedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.q.ExecContext(ctx, query, args...)
}

func (p preparedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.q.QueryContext(ctx, query, args...)
}

func (p preparedQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.q.QueryRowContext(ctx, query, args...)
}
