package sqlstore

import (
	"database/sql"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL flavour of a database.
type Dialect int

// The supported dialects.
const (
	// DetectDialect asks New to tell the dialect from the database's driver.
	DetectDialect Dialect = iota
	// SQLite, through modernc.org/sqlite (driver "sqlite") or
	// github.com/mattn/go-sqlite3. It serves one process.
	SQLite
	// Postgres is PostgreSQL 12 or later, through
	// github.com/jackc/pgx/v5/stdlib or github.com/lib/pq.
	Postgres
	// MySQL is MySQL 8 or MariaDB 10.6 or later, through
	// github.com/go-sql-driver/mysql.
	MySQL
)

// String returns the dialect's name, as used for its migrations folder.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case DetectDialect:
		return "detect"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// driverDialects maps a driver's Go package to its dialect.
var driverDialects = map[string]Dialect{
	"modernc.org/sqlite":             SQLite,
	"github.com/mattn/go-sqlite3":    SQLite,
	"github.com/jackc/pgx/v5/stdlib": Postgres,
	"github.com/jackc/pgx/v4/stdlib": Postgres,
	"github.com/lib/pq":              Postgres,
	"github.com/go-sql-driver/mysql": MySQL,
}

// detect tells the dialect of db from its driver's package.
func detect(db *sql.DB) (Dialect, error) {
	drv := db.Driver()
	t := reflect.TypeOf(drv)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if d, ok := driverDialects[t.PkgPath()]; ok {
		return d, nil
	}
	return DetectDialect, fmt.Errorf("sqlstore: cannot tell the dialect of driver %T; set Config.Dialect", drv)
}

// rebind rewrites the ? placeholders of query for the dialect.
func (d Dialect) rebind(query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lockSkipLocked is the clause that makes a claim skip rows other
// transactions hold. SQLite has one writer, so it needs none.
func (d Dialect) lockSkipLocked() string {
	if d == SQLite {
		return ""
	}
	return " FOR UPDATE SKIP LOCKED"
}

// unindexed returns col as a term that no index serves on SQLite, with a
// unary plus, and col itself elsewhere: where indexHint names the index a
// statement must read, unindexed only keeps one term from choosing one.
// SQLite plans without statistics: given a term on status, it may read
// every attempt of that status through an index on status, where the
// primary key finds the few IDs asked for, the event's index an event's
// attempts, or a scan in ID order a page of successes.
func (d Dialect) unindexed(col string) string {
	if d == SQLite {
		return "+" + col
	}
	return col
}

// flushers is how many group-commit transactions may run at once when
// full batches queue up: one on SQLite, which has one writer, and two on
// servers.
func (d Dialect) flushers() int {
	if d == SQLite {
		return 1
	}
	return 2
}

// timeArg returns t as the dialect stores it, or NULL for the zero time:
// Unix microseconds in SQLite, a UTC time elsewhere.
func (d Dialect) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if d == SQLite {
		return t.UnixMicro()
	}
	return t.UTC()
}

// dbTime scans a time column of any dialect: Unix microseconds, a time, or
// MySQL's text form (without parseTime). NULL scans as the zero time.
type dbTime struct{ t time.Time }

// mysqlTimeLayout is how MySQL DATETIME(6) reads as text.
const mysqlTimeLayout = "2006-01-02 15:04:05.999999"

func (v *dbTime) Scan(src any) error {
	switch s := src.(type) {
	case nil:
		v.t = time.Time{}
	case int64:
		v.t = time.UnixMicro(s).UTC()
	case time.Time:
		v.t = s.UTC()
	case []byte:
		return v.parse(string(s))
	case string:
		return v.parse(s)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

func (v *dbTime) parse(s string) error {
	t, err := time.ParseInLocation(mysqlTimeLayout, s, time.UTC)
	if err != nil {
		return fmt.Errorf("sqlstore: cannot read time %q: %w", s, err)
	}
	v.t = t
	return nil
}

var _ sql.Scanner = (*dbTime)(nil)
