package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/deliverytest"
	"github.com/webhookkit/delivery/sqlstore"
)

// ordersTable creates a host table for the business writes of a test, and
// drops it when the test ends.
func ordersTable(t *testing.T, db *sql.DB, s *sqlstore.Store) string {
	orders := s.TablePrefix() + "orders"
	_, err := db.Exec("CREATE TABLE " + orders + " (id INTEGER PRIMARY KEY)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE " + orders) })
	return orders
}

// Attempts inserted in the host's transaction exist exactly when it commits.
func TestInsertTx(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			db := e.open(t)
			s := newStore(t, db)
			orders := ordersTable(t, db, s)

			for _, commit := range []bool{true, false} {
				a := attempt("evt_order")
				tx, err := db.BeginTx(ctx, nil)
				require.NoError(t, err)
				t.Cleanup(func() { _ = tx.Rollback() }) // a no-op once it ended; frees the connection if a check failed
				_, err = tx.Exec("INSERT INTO " + orders + " (id) VALUES (1)")
				require.NoError(t, err)
				require.NoError(t, s.InsertTx(ctx, tx, delivery.Job{Attempt: a, Payload: []byte(`{"order":1}`)}))
				if commit {
					require.NoError(t, tx.Commit())
				} else {
					require.NoError(t, tx.Rollback())
				}
				_, err = s.Get(ctx, a.ID)
				if commit {
					require.NoError(t, err, "committed with the business write")
				} else {
					require.ErrorIs(t, err, delivery.ErrNotFound, "rolled back with the business write")
				}
				_, err = db.Exec("DELETE FROM " + orders)
				require.NoError(t, err)
			}
			require.Error(t, s.InsertTx(ctx, nil, delivery.Job{Attempt: attempt("evt_x")}))
		})
	}
}

// Deliver through a sqlstore returns exactly what the store then holds.
func TestDeliverRecordsExactly(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, e.open(t))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("X-Multi", "1")
				w.Header().Add("X-Multi", "2")
				w.WriteHeader(http.StatusTeapot)
				_, _ = w.Write([]byte("\xff\x00 not utf-8"))
			}))
			defer srv.Close()
			client := &http.Client{}
			defer client.CloseIdleConnections()
			d, err := delivery.NewDispatcher(s, &delivery.Config{HTTPClient: client})
			require.NoError(t, err)

			a, err := d.Deliver(ctx, delivery.Event{ID: "evt_1", Type: "t", Payload: []byte("{}")},
				delivery.Endpoint{ID: "ep_1", URL: srv.URL + "/?x=1"})
			var aerr *delivery.AttemptError
			require.True(t, errors.As(err, &aerr))
			got, err := s.Get(ctx, a.ID)
			require.NoError(t, err)
			require.Equal(t, a, got)
			ev, err := s.Event(ctx, "evt_1")
			require.NoError(t, err)
			require.Equal(t, delivery.Event{ID: "evt_1", Type: "t", Payload: []byte("{}")}, ev)
		})
	}
}

// EnqueueTx is a transactional outbox: the webhook exists exactly when the
// business write commits, and the worker then delivers it.
func TestEnqueueTx(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			db := e.open(t)
			s := newStore(t, db)
			orders := ordersTable(t, db, s)

			r := deliverytest.NewReceiver(t)
			ep := r.Endpoint("ep_1")
			d, err := delivery.NewDispatcher(s, r.Config())
			require.NoError(t, err)

			for i, commit := range []bool{false, true} {
				tx, err := db.BeginTx(ctx, nil)
				require.NoError(t, err)
				_, err = tx.Exec(fmt.Sprintf("INSERT INTO %s (id) VALUES (%d)", orders, i))
				require.NoError(t, err)
				a, err := d.EnqueueTx(ctx, tx, delivery.Event{ID: fmt.Sprintf("evt_order_%d", i), Payload: []byte("{}")}, ep, nil)
				require.NoError(t, err)
				require.Equal(t, delivery.StatusPending, a.Status)
				if commit {
					require.NoError(t, tx.Commit())
				} else {
					require.NoError(t, tx.Rollback())
				}
			}
			require.NoError(t, d.Start(ctx))
			defer func() { require.NoError(t, d.Stop(ctx)) }()
			deliverytest.Drain(t, s)
			r.RequireDelivered(t, "evt_order_1", "ep_1")
			require.Len(t, r.Requests("ep_1"), 1, "only the committed webhook is sent")
			page, err := s.List(ctx, delivery.ListQuery{})
			require.NoError(t, err)
			require.Len(t, page.Attempts, 1)
			require.Equal(t, "evt_order_1", page.Attempts[0].EventID)
		})
	}
}

// A duplicate in the host's transaction is reported without spoiling it, on
// every engine (a failed statement would abort a PostgreSQL transaction):
// the rerun of a handler or a transaction can enqueue again safely, and its
// business write still commits. A batch with one duplicate stores none of
// its attempts, even when it spans several statements.
func TestEnqueueTxDuplicate(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			db := e.open(t)
			s := newStore(t, db)
			orders := ordersTable(t, db, s)
			d, err := delivery.NewDispatcher(s, nil)
			require.NoError(t, err)
			ep := delivery.Endpoint{ID: "ep_1", URL: "https://example.com/hook"}
			ev := delivery.Event{ID: "evt_order_1", Payload: []byte(`{}`)}
			_, err = d.Enqueue(ctx, ev, ep, nil)
			require.NoError(t, err)

			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = tx.Rollback() })
			_, err = tx.Exec("INSERT INTO " + orders + " (id) VALUES (1)")
			require.NoError(t, err)
			_, err = d.EnqueueTx(ctx, tx, ev, ep, nil)
			require.ErrorIs(t, err, delivery.ErrDuplicate)

			// A batch of 1,200 (three statements) whose last job is a
			// duplicate of the first.
			var jobs []delivery.Job
			for i := range 1200 {
				jobs = append(jobs, delivery.Job{Attempt: attempt(fmt.Sprintf("evt_batch_%d", i)), Payload: []byte(`{}`)})
			}
			dup := attempt("evt_order_1")
			dup.EndpointID, dup.AttemptNumber = "ep_1", 1
			jobs = append(jobs, delivery.Job{Attempt: dup})
			require.ErrorIs(t, s.InsertTx(ctx, tx, jobs...), delivery.ErrDuplicate)
			// And a single statement: a new event, then the duplicate.
			require.ErrorIs(t, s.InsertTx(ctx, tx, delivery.Job{Attempt: attempt("evt_fresh"), Payload: []byte(`{}`)}, delivery.Job{Attempt: dup}),
				delivery.ErrDuplicate)

			_, err = tx.Exec("INSERT INTO " + orders + " (id) VALUES (2)")
			require.NoError(t, err, "the transaction is still usable")
			other := ev
			other.ID = "evt_order_2"
			_, err = d.EnqueueTx(ctx, tx, other, ep, nil)
			require.NoError(t, err)
			require.NoError(t, tx.Commit())

			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+orders).Scan(&n))
			require.Equal(t, 2, n, "the business writes committed")
			page, err := s.List(ctx, delivery.ListQuery{Limit: delivery.MaxListLimit})
			require.NoError(t, err)
			require.Len(t, page.Attempts, 2, "one attempt of each event, none of the batch")
			for _, id := range []string{"evt_batch_0", "evt_batch_1199", "evt_fresh"} {
				_, err := s.Event(ctx, id)
				require.ErrorIs(t, err, delivery.ErrNotFound, "no event of the refused batch is kept")
			}
		})
	}
}

// A fan-out in the host's transaction is one INSERT: the attempts commit
// with the business write, or, on a duplicate, none is stored and the
// transaction stays usable.
func TestEnqueueManyTx(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			db := e.open(t)
			s := newStore(t, db)
			d, err := delivery.NewDispatcher(s, nil)
			require.NoError(t, err)
			var eps []delivery.Endpoint
			for i := range 20 {
				eps = append(eps, delivery.Endpoint{ID: fmt.Sprintf("ep_%02d", i), URL: "https://example.com/hook"})
			}
			ev := delivery.Event{ID: "evt_fan", Payload: []byte(`{}`)}

			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = tx.Rollback() })
			as, err := d.EnqueueManyTx(ctx, tx, ev, eps, nil)
			require.NoError(t, err)
			require.Len(t, as, 20)
			_, err = d.EnqueueManyTx(ctx, tx, ev, eps[5:7], nil)
			require.ErrorIs(t, err, delivery.ErrDuplicate)
			require.NoError(t, tx.Commit())

			page, err := s.List(ctx, delivery.ListQuery{EventID: "evt_fan"})
			require.NoError(t, err)
			require.Len(t, page.Attempts, 20)
		})
	}
}
