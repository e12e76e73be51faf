package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery/sqlstore"
)

// The committed order's webhook arrives, verified, and is on record; the
// rolled-back order's never existed. A second run on the same file places
// a new order.
func TestOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	for i := 1; i <= 2; i++ {
		db, err := sqlstore.OpenSQLite(path)
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), db, &out))
		require.NoError(t, db.Close())
		text := out.String()
		placed, declined := fmt.Sprintf("evt_order_%d_created", i), fmt.Sprintf("evt_order_%d_created", i+1)
		require.Contains(t, text, "receiver: "+placed+" /hooks/acme, signature verified", text)
		require.NotContains(t, text, "receiver: "+declined)
		require.Regexp(t, placed+` +1 +success +204 +/hooks/acme`, text)
		require.Regexp(t, declined+` +- +never stored`, text)
		require.Equal(t, 1, strings.Count(text, "receiver:"), "one webhook, once")
	}
}
