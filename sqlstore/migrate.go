package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing/fstest"
	"time"
)

//go:embed migrations
var migrationFiles embed.FS

// migration is one versioned schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations, in version order, with the
// table prefix filled in.
func migrations(d Dialect, prefix string) ([]migration, error) {
	dir := path.Join("migrations", d.String())
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: no migrations for dialect %v", d)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s has no version number", e.Name())
		}
		text, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version, e.Name(), strings.ReplaceAll(string(text), "{prefix}", prefix)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}

// Migrations returns the SQL migrations of a dialect as files named
// NNNN_name.sql, with the table prefix filled in, for a host that applies
// schema changes with its own migration tool instead of Store.Migrate. Apply
// them in name order, each once.
func Migrations(d Dialect, tablePrefix string) (fs.FS, error) {
	if err := checkPrefix(tablePrefix); err != nil {
		return nil, err
	}
	ms, err := migrations(d, tablePrefix)
	if err != nil {
		return nil, err
	}
	files := fstest.MapFS{}
	for _, m := range ms {
		files[m.name] = &fstest.MapFile{Data: []byte(m.sql), Mode: 0o444}
	}
	return files, nil
}

// statements splits a migration into its statements, which end with ";" at
// the end of a line, outside a body quoted with $$ (a PostgreSQL
// function's). Comment lines are dropped.
func statements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	inBody := false
	for line := range strings.Lines(sqlText) {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		cur.WriteString(line)
		if strings.Count(line, "$$")%2 == 1 {
			inBody = !inBody
		}
		if trimmed := strings.TrimSpace(line); !inBody && strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

// Migrate creates or updates the Store's tables, applying each migration
// that the database lacks, in order. It is idempotent, and safe to call
// from several processes at once: they take turns under a lock (an advisory
// lock on PostgreSQL, GET_LOCK on MySQL, a write transaction on SQLite), and
// each migration is applied once. Nothing calls it implicitly: call it at
// start-up, or apply the files of Migrations with another tool.
//
// On PostgreSQL and SQLite each migration is applied in a transaction with
// its version record. MySQL commits DDL statement by statement, so a
// migration interrupted there must be finished by hand.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations(s.dialect, s.prefix)
	if err != nil {
		return err
	}
	conn, unlock, err := s.lockedConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = s.applyMigrations(ctx, conn, ms)
	if uerr := unlock(); err == nil && uerr != nil {
		err = fmt.Errorf("sqlstore: migrate: unlock: %w", uerr)
	}
	return err
}

// lockedConn returns a connection that holds the migration lock, and what
// releases the lock. SQLite can refuse at once, without waiting out its
// busy timeout, while several processes open a new database file together
// (one of them switching it to write-ahead logging): those refusals are
// retried for up to a minute.
func (s *Store) lockedConn(ctx context.Context) (*sql.Conn, func() error, error) {
	for try := 1; ; try++ {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			if s.retryBusy(ctx, err, try) {
				continue
			}
			return nil, nil, fmt.Errorf("sqlstore: migrate: %w", err)
		}
		unlock, err := s.lockMigrations(ctx, conn)
		if err == nil {
			return conn, unlock, nil
		}
		_ = conn.Close()
		if !s.retryBusy(ctx, err, try) {
			return nil, nil, fmt.Errorf("sqlstore: migrate: lock: %w", err)
		}
	}
}

// retryBusy reports whether a try that failed with err should be made
// again, after waiting: on SQLite, while the database is busy, for up to a
// minute in all, unless ctx ends.
func (s *Store) retryBusy(ctx context.Context, err error, try int) bool {
	const tries, wait = 600, 100 * time.Millisecond
	if s.dialect != SQLite || try >= tries || !strings.Contains(err.Error(), "SQLITE_BUSY") && !strings.Contains(err.Error(), "database is locked") {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(wait):
		return true
	}
}

// migrationLockKey names the migration lock of one table prefix.
func (s *Store) migrationLockKey() int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("webhookkit/delivery:" + s.prefix)) // a hash never fails to write
	return int64(h.Sum64() >> 1)
}

// lockMigrations takes the lock that serializes migrations of this prefix,
// and returns what releases it.
func (s *Store) lockMigrations(ctx context.Context, conn *sql.Conn) (func() error, error) {
	key := s.migrationLockKey()
	switch s.dialect {
	case Postgres:
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return nil, err
		}
		return func() error {
			_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
			return err
		}, nil
	case MySQL:
		name := "delivery_migrate_" + strconv.FormatInt(key, 36)
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", name).Scan(&got); err != nil {
			return nil, err
		}
		if got.Int64 != 1 {
			return nil, errors.New("GET_LOCK timed out after 60 s")
		}
		return func() error {
			_, err := conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", name)
			return err
		}, nil
	}
	// SQLite: a write transaction excludes every other writer, in any
	// process, until it ends.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return nil, err
	}
	return func() error {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "COMMIT")
		return err
	}, nil
}

// applyMigrations applies the migrations that the database lacks. The
// caller holds the migration lock on conn.
func (s *Store) applyMigrations(ctx context.Context, conn *sql.Conn, ms []migration) error {
	table := s.prefix + "schema_migrations"
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (version INTEGER NOT NULL PRIMARY KEY)"); err != nil {
		return fmt.Errorf("sqlstore: migrate: create %s: %w", table, err)
	}
	// #nosec G202 -- table is built from a validated prefix (checkPrefix); no value is concatenated.
	rows, err := conn.QueryContext(ctx, "SELECT version FROM "+table)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: read versions: %w", err)
	}
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			_ = rows.Close()
			return fmt.Errorf("sqlstore: migrate: read versions: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("sqlstore: migrate: read versions: %w", err)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := s.applyMigration(ctx, conn, table, m); err != nil {
			return fmt.Errorf("sqlstore: migrate: %s: %w", m.name, err)
		}
	}
	return nil
}

// applyMigration applies one migration and records its version; on
// PostgreSQL in one transaction. SQLite already runs inside the lock's
// transaction; MySQL commits each DDL statement.
func (s *Store) applyMigration(ctx context.Context, conn *sql.Conn, table string, m migration) error {
	stmts := append(statements(m.sql), s.dialect.rebind("INSERT INTO "+table+" (version) VALUES (?)"))
	args := func(i int) []any {
		if i == len(stmts)-1 {
			return []any{m.version}
		}
		return nil
	}
	if s.dialect != Postgres {
		for i, stmt := range stmts {
			if _, err := conn.ExecContext(ctx, stmt, args(i)...); err != nil {
				return err
			}
		}
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it only reports ErrTxDone.
	for i, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt, args(i)...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Drop deletes everything Migrate created: the Store's tables, with every
// attempt and event in them, and on PostgreSQL its claim function. It is
// for tests that share a database, and for removing the library; nothing
// calls it implicitly. Dropping what does not exist is not an error.
func (s *Store) Drop(ctx context.Context) error {
	var stmts []string
	if s.dialect == Postgres {
		stmts = append(stmts, "DROP FUNCTION IF EXISTS "+s.prefix+"claim")
	}
	for _, table := range []string{"attempts", "events", "endpoints", "schema_migrations"} {
		stmts = append(stmts, "DROP TABLE IF EXISTS "+s.prefix+table)
	}
	for _, stmt := range stmts {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlstore: drop: %w", err)
		}
	}
	return nil
}
