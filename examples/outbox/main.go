// Command outbox shows the durable path of delivery, as a service uses it:
// an order and its webhook committed in one database transaction (a
// transactional outbox), a worker that sends the webhook, a receiver that
// verifies it, an order rolled back that sends nothing, and the audit trail.
//
//	go run ./examples/outbox                      # SQLite, in outbox.db
//	go run ./examples/outbox -postgres 'postgres://postgres@127.0.0.1:5432/test'
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

func main() {
	sqlitePath := flag.String("sqlite", "outbox.db", "the SQLite file that keeps the orders and the attempts")
	postgres := flag.String("postgres", "", "a PostgreSQL DSN; if set, orders and attempts go there instead of SQLite")
	flag.Parse()
	var db *sql.DB
	var err error
	if *postgres != "" {
		db, err = sql.Open("pgx", *postgres)
	} else {
		db, err = sqlstore.OpenSQLite(*sqlitePath)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := run(context.Background(), db, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// shop is the host: its orders table, its customers' endpoints, and the
// Dispatcher that delivers their webhooks.
type shop struct {
	db      *sql.DB
	store   *sqlstore.Store
	d       *delivery.Dispatcher
	mu      sync.Mutex
	webhook map[string]delivery.Endpoint // the customers' endpoints, by ID
}

// lookUpEndpoint is Config.LookupEndpoint: the endpoint as it is now.
func (s *shop) lookUpEndpoint(_ context.Context, id string) (delivery.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, ok := s.webhook[id]
	if !ok {
		return delivery.Endpoint{}, delivery.ErrEndpointGone
	}
	return ep, nil
}

// placeOrder writes an order and enqueues its webhook in one transaction.
// fail makes the business code fail after the enqueue, so that the
// transaction rolls back, the webhook with it.
func (s *shop) placeOrder(ctx context.Context, orderID int, customer string, fail bool) (eventID string, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback() // a no-op after Commit

	insert := "INSERT INTO outbox_orders (id, customer) VALUES (?, ?)"
	if s.store.Dialect() == sqlstore.Postgres {
		insert = "INSERT INTO outbox_orders (id, customer) VALUES ($1, $2)"
	}
	if _, err := tx.ExecContext(ctx, insert, orderID, customer); err != nil {
		return "", err
	}
	ep, err := s.lookUpEndpoint(ctx, customer)
	if err != nil {
		return "", err
	}
	ev := delivery.Event{
		ID:      fmt.Sprintf("evt_order_%d_created", orderID), // the idempotency key
		Type:    "order.created",
		Payload: fmt.Appendf(nil, `{"order":%d,"customer":%q}`, orderID, customer),
	}
	if _, err := s.d.EnqueueTx(ctx, tx, ev, ep, nil); err != nil && !errors.Is(err, delivery.ErrDuplicate) {
		return "", err
	}
	if fail {
		return ev.ID, errors.New("payment declined")
	}
	return ev.ID, tx.Commit()
}

func run(ctx context.Context, db *sql.DB, out io.Writer) error {
	store, err := sqlstore.New(db, nil)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	s := &shop{db: db, store: store, webhook: map[string]delivery.Endpoint{}}
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS outbox_orders (id INTEGER PRIMARY KEY, customer VARCHAR(64) NOT NULL)"); err != nil {
		return err
	}

	// The customer's receiver verifies every request before it trusts it.
	secret := delivery.NewSecret()
	verifier, err := delivery.NewVerifier(secret)
	if err != nil {
		return err
	}
	received := make(chan string, 10)
	receiver := httptest.NewServer(verifier.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		received <- fmt.Sprintf("receiver: %s %s, signature verified: %s", r.Header.Get(delivery.HeaderID), r.URL.Path, body)
		w.WriteHeader(http.StatusNoContent)
	})))
	defer receiver.Close()
	s.webhook["acme"] = delivery.Endpoint{ID: "acme", URL: receiver.URL + "/hooks/acme", Secrets: []string{secret}}

	s.d, err = delivery.NewDispatcher(store, &delivery.Config{
		LookupEndpoint: s.lookUpEndpoint,
		// The receiver listens on 127.0.0.1, which the default address
		// policy refuses: a customer's URL must not reach your network.
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		PollInterval:  50 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	if err := s.d.Start(ctx); err != nil {
		return err
	}

	var next int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) + 1 FROM outbox_orders").Scan(&next); err != nil {
		return err
	}
	placed, err := s.placeOrder(ctx, next, "acme", false)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "order %d placed; its webhook %s committed with it\n", next, placed)
	declined, err := s.placeOrder(ctx, next+1, "acme", true)
	fmt.Fprintf(out, "order %d failed (%v); rolled back, and its webhook %s with it\n", next+1, err, declined)

	select {
	case line := <-received:
		fmt.Fprintln(out, line)
	case <-time.After(30 * time.Second):
		return errors.New("the webhook did not arrive within 30 s")
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.d.Stop(stopCtx); err != nil {
		return err
	}

	fmt.Fprintln(out, "\nThe audit trail of both orders' webhooks:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\t#\tSTATUS\tCODE\tENDPOINT URL")
	for _, id := range []string{placed, declined} {
		page, err := store.List(ctx, delivery.ListQuery{EventID: id})
		if err != nil {
			return err
		}
		if len(page.Attempts) == 0 {
			fmt.Fprintf(tw, "%s\t-\tnever stored\t\t\n", id)
		}
		for _, a := range page.Attempts {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", a.EventID, a.AttemptNumber, a.Status, a.ResponseStatusCode,
				strings.TrimPrefix(a.EndpointURL, receiver.URL))
		}
	}
	return tw.Flush()
}
