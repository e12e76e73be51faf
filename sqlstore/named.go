package sqlstore

import (
	"regexp"
	"strings"
)

// namedStmt is a statement whose parameters are named, as :name, so that
// one value can appear several times and each dialect gets the
// placeholders it needs.
type namedStmt struct {
	query string
	names []string
}

var paramName = regexp.MustCompile(`:([a-z_][a-z0-9_]*)`)

// Parameter types, which PostgreSQL needs spelled out for a parameter that
// only appears where its type cannot be inferred, such as "? IS NULL".
const (
	pTime = "TIMESTAMPTZ"
	pBool = "BOOLEAN"
	pInt  = "BIGINT"
	pText = "TEXT"
)

// named binds query's :name parameters, each of the type types gives it,
// to the dialect's placeholders.
func (d Dialect) named(query string, types map[string]string) namedStmt {
	var names []string
	q := paramName.ReplaceAllStringFunc(query, func(m string) string {
		name := m[1:]
		typ, ok := types[name]
		if !ok {
			panic("sqlstore: parameter " + m + " has no type")
		}
		names = append(names, name)
		if d == Postgres {
			return "CAST(? AS " + typ + ")"
		}
		return "?"
	})
	return namedStmt{query: d.rebind(q), names: names}
}

// args returns the statement's arguments, in placeholder order, from
// values by name.
func (n namedStmt) args(values map[string]any) []any {
	args := make([]any, len(n.names))
	for i, name := range n.names {
		v, ok := values[name]
		if !ok {
			panic("sqlstore: no value for parameter :" + name + " of " + strings.SplitN(n.query, " ", 3)[0])
		}
		args[i] = v
	}
	return args
}
