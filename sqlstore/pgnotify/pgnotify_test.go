package pgnotify_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/deliverytest"
	"github.com/webhookkit/delivery/sqlstore"
	"github.com/webhookkit/delivery/sqlstore/pgnotify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A worker that polls once an hour sends an attempt enqueued with
// EnqueueTx in another Dispatcher as soon as the transaction commits: the
// notification woke it.
func TestNotificationWakesWorker(t *testing.T) {
	dsn := os.Getenv("DELIVERY_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("set DELIVERY_TEST_POSTGRES_DSN to test PostgreSQL notifications")
	}
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	prefix := fmt.Sprintf("notify_%d_", time.Now().UnixNano()%1e9)
	store, err := sqlstore.New(db, &sqlstore.Config{TablePrefix: prefix})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))
	t.Cleanup(func() { require.NoError(t, store.Drop(context.Background())) })

	r := deliverytest.NewReceiver(t)
	cfg := r.Config()
	cfg.PollInterval = time.Hour
	worker, err := delivery.NewDispatcher(store, cfg)
	require.NoError(t, err)
	var wakes atomic.Int32
	l, err := pgnotify.Listen(ctx, dsn, store.NotifyChannel(), func() { wakes.Add(1); worker.Wake() })
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	require.NoError(t, worker.Start(ctx))
	t.Cleanup(func() { require.NoError(t, worker.Stop(context.Background())) })

	// Another Dispatcher enqueues, as another process would: its own wake
	// does not reach the worker.
	enqueuer, err := delivery.NewDispatcher(store, nil)
	require.NoError(t, err)
	for i, commit := range []bool{false, true} {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = enqueuer.EnqueueTx(ctx, tx, delivery.Event{ID: fmt.Sprintf("evt_%d", i), Payload: []byte(`{}`)}, r.Endpoint("ep_1"), nil)
		require.NoError(t, err)
		if commit {
			require.NoError(t, tx.Commit())
		} else {
			require.NoError(t, tx.Rollback())
		}
	}
	deliverytest.Drain(t, store)
	r.RequireDelivered(t, "evt_1", "ep_1")
	require.Len(t, r.Requests("ep_1"), 1)
	require.EqualValues(t, 1, wakes.Load(), "one notification, from the transaction that committed")
	require.NoError(t, l.Err())
}

func TestListenRejects(t *testing.T) {
	_, err := pgnotify.Listen(context.Background(), "postgres://127.0.0.1:1/none", "", func() {})
	require.Error(t, err)
	_, err = pgnotify.Listen(context.Background(), "postgres://127.0.0.1:1/none?connect_timeout=5", "ch", func() {})
	require.Error(t, err, "nothing listens on port 1")
}
