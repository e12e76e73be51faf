package sqlstore

import (
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// pgArrays turns rows of statement arguments, all of the same width, into
// one argument a column: a PostgreSQL array in its text form, which the
// statement casts to the column's array type and unnests. A batch of any
// size is then one statement with a fixed text, which the server prepares
// and plans once, instead of a VALUES list whose text, and plan, differ
// with every batch size. It uses no driver's array type, so that sqlstore
// keeps depending on none.
func pgArrays(rows [][]any, width int) ([]any, error) {
	for _, row := range rows {
		if len(row) != width {
			return nil, fmt.Errorf("sqlstore: batch row has %d arguments, not %d", len(row), width)
		}
	}
	cols := make([][]byte, width)
	for c := range cols {
		// Allocate each array once, at about its final size, rather than
		// grow it element by element: payloads make arrays of kilobytes.
		size := 2
		for _, row := range rows {
			size += elemSize(row[c]) + 1
		}
		cols[c] = append(make([]byte, 0, size), '{')
	}
	for r, row := range rows {
		for c, v := range row {
			if r > 0 {
				cols[c] = append(cols[c], ',')
			}
			var err error
			if cols[c], err = appendArrayElem(cols[c], v); err != nil {
				return nil, err
			}
		}
	}
	args := make([]any, width)
	for c := range cols {
		args[c] = string(append(cols[c], '}'))
	}
	return args, nil
}

// elemSize is about the length of v as an array element: exact for text
// and bytes.
func elemSize(v any) int {
	switch v := v.(type) {
	case nil:
		return len("NULL")
	case string:
		return len(v) + 2 + strings.Count(v, `"`) + strings.Count(v, `\`)
	case []byte:
		return 2*len(v) + len(`"\\x"`)
	default:
		return 40 // a number, a time, or a valuer's value
	}
}

// appendArrayElem appends one statement argument as an array element:
// NULL, or a quoted text that the element type reads back unchanged.
func appendArrayElem(b []byte, v any) ([]byte, error) {
	if valuer, ok := v.(driver.Valuer); ok {
		var err error
		if v, err = valuer.Value(); err != nil {
			return b, err
		}
	}
	switch v := v.(type) {
	case nil:
		return append(b, "NULL"...), nil
	case string:
		return appendQuoted(b, v), nil
	case []byte:
		// The hex form needs no escaping but its leading backslash.
		b = append(b, `"\\x`...)
		b = hex.AppendEncode(b, v)
	case bool:
		b = strconv.AppendBool(append(b, '"'), v)
	case int:
		b = strconv.AppendInt(append(b, '"'), int64(v), 10)
	case int64:
		b = strconv.AppendInt(append(b, '"'), v, 10)
	case time.Time:
		b = v.UTC().AppendFormat(append(b, '"'), "2006-01-02 15:04:05.999999Z07:00")
	default:
		return b, fmt.Errorf("sqlstore: cannot write %T into a PostgreSQL array", v)
	}
	return append(b, '"'), nil
}

// appendQuoted appends text as a quoted array element: inside it, a
// backslash and a double quote are escaped with a backslash.
func appendQuoted(b []byte, text string) []byte {
	b = append(b, '"')
	for i := 0; i < len(text); i++ {
		if text[i] == '\\' || text[i] == '"' {
			b = append(b, '\\')
		}
		b = append(b, text[i])
	}
	return append(b, '"')
}
