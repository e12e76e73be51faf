package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/webhookkit/delivery/sqlstore"
)

// The environment variables that name the test servers.
const (
	postgresEnv = "DELIVERY_TEST_POSTGRES_DSN"
	mysqlEnv    = "DELIVERY_TEST_MYSQL_DSN"
)

// engine is a database the tests run against.
type engine struct {
	name    string
	dialect sqlstore.Dialect
	// open returns a database for the test, closed when it ends. Each call
	// on SQLite is a new file; on the servers, a new pool on the shared
	// test database, where tables are told apart by prefix.
	open func(t testing.TB) *sql.DB
	// dsn is the server's DSN, or empty for SQLite.
	dsn string
}

// engines returns SQLite, and the servers whose DSN is set. A test that
// needs a server skips with the variable's name when it is not set.
func engines(t testing.TB) []engine {
	es := []engine{{name: "sqlite", dialect: sqlstore.SQLite, open: openSQLite}}
	for _, s := range []struct {
		name, env, driver string
		dialect           sqlstore.Dialect
	}{
		{"postgres", postgresEnv, "pgx", sqlstore.Postgres},
		{"mysql", mysqlEnv, "mysql", sqlstore.MySQL},
	} {
		dsn := os.Getenv(s.env)
		if dsn == "" {
			t.Logf("%s: skipped; set %s to run against a server", s.name, s.env)
			continue
		}
		es = append(es, engine{name: s.name, dialect: s.dialect, dsn: dsn, open: func(t testing.TB) *sql.DB {
			db, err := sql.Open(s.driver, dsn)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			require.NoError(t, db.PingContext(context.Background()), "%s is set but %s is unreachable", s.env, s.name)
			return db
		}})
	}
	return es
}

// serverPool bounds the connections of a server's pool at 16, all kept
// idle, so that a burst of writes neither opens a connection each nor
// exceeds the server's limit. SQLite keeps its single connection.
func serverPool(db *sql.DB, e engine) *sql.DB {
	if e.dsn != "" {
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
	}
	return db
}

func openSQLite(t testing.TB) *sql.DB {
	db, err := sqlstore.OpenSQLite(filepath.Join(t.TempDir(), "delivery.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// uniquePrefix returns a table prefix no other test uses.
func uniquePrefix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b) + "_"
}

// newStore returns a migrated Store with its own tables on db, dropped
// when the test ends.
func newStore(t testing.TB, db *sql.DB) *sqlstore.Store {
	t.Helper()
	return newGroupCommitStore(t, db, 0)
}

// newGroupCommitStore is newStore with Config.GroupCommit set to
// groupCommit.
func newGroupCommitStore(t testing.TB, db *sql.DB, groupCommit int) *sqlstore.Store {
	t.Helper()
	s := migratedGroupCommitStore(t, db, groupCommit)
	dropTables(t, db, s)
	return s
}

// migratedStore returns a migrated Store with its own tables on db, which
// the caller drops.
func migratedStore(t testing.TB, db *sql.DB) *sqlstore.Store {
	t.Helper()
	return migratedGroupCommitStore(t, db, 0)
}

func migratedGroupCommitStore(t testing.TB, db *sql.DB, groupCommit int) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: uniquePrefix(), GroupCommit: groupCommit})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// dropTables drops s's tables when the test ends.
func dropTables(t testing.TB, db *sql.DB, s *sqlstore.Store) {
	t.Cleanup(func() { require.NoError(t, s.Drop(context.Background())) })
}
