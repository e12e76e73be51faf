package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache prepares the Store's hot single-row statements once and
// reuses them, so that SQLite does not parse them, nor MySQL prepare and
// close them, on every write. PostgreSQL drivers cache statements
// themselves (pgx does by default), so it is not used there.
type stmtCache struct {
	db *sql.DB
	// hot holds the queries worth preparing.
	hot map[string]bool

	mu       sync.Mutex
	prepared map[string]*sql.Stmt
}

// get returns query prepared, or nil when it is not hot or cannot be
// prepared now, and the caller then runs it unprepared. A statement is
// prepared only outside transactions (inTx false): with SQLite's single
// connection held by the transaction, preparing would wait forever. It
// cannot be prepared before Migrate made the table, either.
func (p *stmtCache) get(ctx context.Context, query string, inTx bool) *sql.Stmt {
	if !p.hot[query] {
		return nil
	}
	p.mu.Lock()
	st := p.prepared[query]
	p.mu.Unlock()
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
