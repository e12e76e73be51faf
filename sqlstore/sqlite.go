package sqlstore

import (
	"database/sql"
	"fmt"
	"net/url"
	"strings"
)

// SQLiteDSN returns the data source name that sets up the SQLite file at
// path for this package, with modernc.org/sqlite: write-ahead logging, a
// busy timeout of 5 s, synchronous=FULL (a committed attempt survives a
// power loss, not only a process crash), transactions that take the
// write lock when they begin, so that no "database is locked" error comes
// from two transactions upgrading their locks at once, and incremental
// auto-vacuum, with which Purge gives the pages of the attempts it deletes
// back to the file system. Auto-vacuum takes effect on a new file; a file
// created without it keeps reusing freed pages for new attempts but does
// not shrink until "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;" is run on
// it once, with no process using it.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "auto_vacuum(INCREMENTAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// OpenSQLite opens the SQLite database file at path, creating it if need
// be, as the embedded default store wants it: SQLiteDSN's settings and a
// single connection, so that writes queue in the process instead of
// contending for the file's lock. It is the same as
//
//	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(path))
//	db.SetMaxOpenConns(1)
//
// The program must import the driver: import _ "modernc.org/sqlite".
// SQLite serves one process: do not share the file between processes that
// run Dispatchers.
func OpenSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", SQLiteDSN(path))
	if err != nil {
		if strings.Contains(err.Error(), "unknown driver") {
			return nil, fmt.Errorf(`sqlstore: the SQLite driver is not registered; import _ "modernc.org/sqlite": %w`, err)
		}
		return nil, fmt.Errorf("sqlstore: open SQLite: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}
