package delivery_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/deliverytest"
	"github.com/webhookkit/delivery/memstore"
	"github.com/webhookkit/delivery/portal"
	"github.com/webhookkit/delivery/sqlstore"
)

// The functions in this file hold the code that README.md shows, between
// "readme:" marker comments; TestREADMECode checks that the README quotes
// them exactly, and Example_readme runs them.

// openStore opens the store, migrated.
func openStore(ctx context.Context, path string) (*sql.DB, *sqlstore.Store, error) {
	// readme: open
	db, err := sqlstore.OpenSQLite(path) // or sql.Open("pgx", dsn), or sql.Open("mysql", dsn)
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlstore.New(db, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := store.Migrate(ctx); err != nil { // explicit, idempotent, safe across processes
		return nil, nil, err
	}
	// readme: end
	return db, store, nil
}

// lookUpEndpoint is the host's own endpoint table.
var lookUpEndpoint func(ctx context.Context, id string) (delivery.Endpoint, error)

// placeOrder is a host's handler code: the order and its webhook commit
// together.
func placeOrder(ctx context.Context, db *sql.DB, d *delivery.Dispatcher, orderID int, customer delivery.Endpoint) error {
	// readme: enqueue
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit

	if _, err := tx.ExecContext(ctx, "INSERT INTO orders (id) VALUES (?)", orderID); err != nil {
		return err
	}
	ev := delivery.Event{
		ID:      fmt.Sprintf("evt_order_%d_created", orderID), // an idempotency key: enqueued once per endpoint
		Type:    "order.created",
		Payload: fmt.Appendf(nil, `{"order":%d}`, orderID),
	}
	_, err = d.EnqueueTx(ctx, tx, ev, customer, nil)
	if err != nil && !errors.Is(err, delivery.ErrDuplicate) { // a duplicate: this order's webhook is already on its way
		return err
	}
	return tx.Commit()
	// readme: end
}

// runWorker starts the worker and returns what stops it.
func runWorker(ctx context.Context, store delivery.Store) (stop func(context.Context) error, err error) {
	// readme: worker
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		// Current URL, secrets and headers at send time; delivery.ErrEndpointGone if deleted.
		LookupEndpoint: lookUpEndpoint,
		OnGiveUp: func(ctx context.Context, last delivery.Attempt, reason error) {
			// Alert: the policy gave up on this delivery.
		},
		OnEndpointHealth: func(ctx context.Context, h delivery.EndpointHealth) {
			// Tell the customer: its endpoint is paused, disabled, or back (h.State(time.Now())).
		},
		Retention: 30 * 24 * time.Hour, // delete final attempts, payloads and responses after 30 days
	})
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil { // claims due attempts under a lease, sends, retries
		return nil, err
	}
	// At shutdown: d.Stop(ctx) stops claiming and waits for what is in flight.
	// readme: end
	return d.Stop, nil
}

// deliverNow delivers an event synchronously.
func deliverNow(ctx context.Context, d *delivery.Dispatcher, customer delivery.Endpoint) error {
	// readme: deliver
	attempt, err := d.Deliver(ctx,
		delivery.Event{ID: "evt_1001", Type: "invoice.paid", Payload: []byte(`{"invoice":1001}`)},
		customer,
	)
	var failed *delivery.AttemptError
	switch {
	case err == nil:
		fmt.Println("delivered:", attempt.ResponseStatusCode) // the endpoint answered 2xx
	case errors.As(err, &failed):
		// Recorded as a failure; failed.Next is the retry stored for the worker,
		// or nil when the delivery ended (failed.GiveUp says why).
		fmt.Println("failed:", attempt.ResponseStatusCode, failed.Next != nil)
	default:
		return err // invalid input, a duplicate, or the store failed
	}
	// readme: end
	return nil
}

// auditTrail prints every attempt of an event.
func auditTrail(ctx context.Context, store delivery.Store, eventID string) error {
	// readme: audit
	q := delivery.ListQuery{EventID: eventID}
	for {
		page, err := store.List(ctx, q)
		if err != nil {
			return err
		}
		for _, a := range page.Attempts {
			fmt.Println(a.AttemptNumber, a.Trigger, a.Status, a.ResponseStatusCode, a.EndpointID)
		}
		if page.Next == "" {
			return nil
		}
		q.After = page.Next
	}
	// readme: end
}

// receive is the customer's side: a handler that verifies the signature.
func receive(secret string) (http.Handler, error) {
	// readme: verify
	v, err := delivery.NewVerifier(secret)
	if err != nil {
		return nil, err
	}
	// Middleware answers 401 (or 413) unless the signature verifies.
	handler := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// r.Body is verified; deduplicate by r.Header.Get("webhook-id"): delivery is at least once.
		w.WriteHeader(http.StatusNoContent)
	}))
	// readme: end
	return handler, nil
}

// Example_readme runs the code README.md shows: the durable path (an order
// and its webhook committed together, a worker that sends it, a receiver
// that verifies it, the audit trail), then a synchronous Deliver.
func Example_readme() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "readme")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, store, err := openStore(ctx, filepath.Join(dir, "deliveries.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE orders (id INTEGER PRIMARY KEY)"); err != nil {
		panic(err)
	}

	secret := delivery.NewSecret()
	handler, err := receive(secret)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	customer := delivery.Endpoint{ID: "ep_42", URL: srv.URL, Secrets: []string{secret}}
	lookUpEndpoint = func(context.Context, string) (delivery.Endpoint, error) { return customer, nil }

	// The worker's Dispatcher must reach the test receiver on 127.0.0.1,
	// which the default address policy refuses; runWorker shows the
	// production Config.
	d, err := delivery.NewDispatcher(store, &delivery.Config{LookupEndpoint: lookUpEndpoint, AddressPolicy: loopback, PollInterval: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	if err := placeOrder(ctx, db, d, 7, customer); err != nil {
		panic(err)
	}
	if err := d.Start(ctx); err != nil {
		panic(err)
	}
	for {
		page, err := store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}})
		if err != nil {
			panic(err)
		}
		if len(page.Attempts) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Stop(ctx); err != nil {
		panic(err)
	}
	if err := auditTrail(ctx, store, "evt_order_7_created"); err != nil {
		panic(err)
	}
	if err := deliverNow(ctx, d, customer); err != nil {
		panic(err)
	}
	// The production worker, started and stopped with nothing to do.
	stop, err := runWorker(ctx, store)
	if err != nil {
		panic(err)
	}
	if err := stop(ctx); err != nil {
		panic(err)
	}
	// Output:
	// 1 first success 204 ep_42
	// delivered: 204
}

// TestHostWebhooks is a host's test of its own webhooks, as README.md shows
// it: deliverytest's receiver, drain and assertion.
func TestHostWebhooks(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	// readme: hosttest
	r := deliverytest.NewReceiver(t) // verifies signatures, records requests per endpoint
	d, err := delivery.NewDispatcher(store, r.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background()) })

	// The code under test enqueues; here, directly.
	ev := delivery.Event{ID: "evt_order_7_created", Type: "order.created", Payload: []byte(`{"order":7}`)}
	if _, err := d.Enqueue(ctx, ev, r.Endpoint("ep_42"), nil); err != nil {
		t.Fatal(err)
	}
	deliverytest.Drain(t, store) // until nothing is due
	r.RequireDelivered(t, "evt_order_7_created", "ep_42")
	// readme: end
}

// account is what a host's session knows of the signed-in caller.
type account struct{ EndpointIDs []string }

// accountKey holds the account in a request's context.
type accountKey struct{}

// accountFrom returns the account that requireLogin put in ctx.
func accountFrom(ctx context.Context) (account, bool) {
	a, ok := ctx.Value(accountKey{}).(account)
	return a, ok
}

// requireLogin stands for a host's authentication: here every caller is
// the customer who owns ep_42.
func requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accountKey{}, account{EndpointIDs: []string{"ep_42"}})))
	})
}

// TestREADMEPortal mounts the portal as README.md shows, and reads a page.
func TestREADMEPortal(t *testing.T) {
	store := memstore.New()
	d, err := delivery.NewDispatcher(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	// readme: portal
	h, err := portal.New(portal.Config{
		Store:      store,
		Dispatcher: d,
		// Who sees what: the caller's own endpoints, from your session.
		Scope: func(r *http.Request) ([]string, error) {
			acct, ok := accountFrom(r.Context())
			if !ok {
				return nil, errors.New("not signed in")
			}
			return acct.EndpointIDs, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/webhooks/", requireLogin(http.StripPrefix("/webhooks", h)))
	// readme: end
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-endpoint="ep_42"`) {
		t.Fatalf("GET /webhooks/: %d\n%s", rec.Code, rec.Body)
	}
}
