// Command quickstart delivers a few webhooks to a local receiver and prints
// the audit trail: every attempt stored so far as a table, then this run's
// attempts as JSON.
//
// Attempts are stored in the SQLite file quickstart.db in the current
// directory. An event goes to an endpoint once, so a second run sends
// nothing: it reports each delivery as done before, and shows the trail of
// the first. To use PostgreSQL instead:
//
//	go run ./examples/quickstart -postgres 'postgres://postgres@127.0.0.1:5432/test'
//
// or set DELIVERY_POSTGRES_DSN.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/sqlstore"
)

func main() {
	sqlitePath := flag.String("sqlite", "quickstart.db", "the SQLite file that keeps the attempts")
	postgres := flag.String("postgres", os.Getenv("DELIVERY_POSTGRES_DSN"), "a PostgreSQL DSN; if set, attempts go there instead of SQLite")
	flag.Parse()
	db, err := openDB(*sqlitePath, *postgres)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := run(context.Background(), db, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// openDB opens PostgreSQL if a DSN is given, else the SQLite file.
func openDB(sqlitePath, postgresDSN string) (*sql.DB, error) {
	if postgresDSN != "" {
		db, err := sql.Open("pgx", postgresDSN)
		if err == nil {
			db.SetMaxIdleConns(16) // keep connections for concurrent deliveries
		}
		return db, err
	}
	return sqlstore.OpenSQLite(sqlitePath)
}

func run(ctx context.Context, db *sql.DB, out io.Writer) error {
	// The store: a table beside the host's own, created by Migrate.
	store, err := sqlstore.New(db, nil)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}

	secret := delivery.NewSecret()

	// The customer's side: a receiver that verifies signatures, accepts
	// invoices and refuses everything else.
	verifier, err := delivery.NewVerifier(secret)
	if err != nil {
		return err
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case verifier.Verify(r.Header, body) != nil:
			http.Error(w, "bad signature", http.StatusUnauthorized)
		case r.URL.Path == "/invoices":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"received":true}`)
		default:
			http.Error(w, "no such hook", http.StatusNotFound)
		}
	}))
	defer receiver.Close()

	// The host's side: a Dispatcher recording attempts in the store.
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		Timeout: 5 * time.Second,
		// The demo receiver is on 127.0.0.1, which the default address
		// policy refuses: a customer's URL must not reach your own network.
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		// One attempt per delivery in this demo. A service keeps the
		// default policy, whose retries its worker (Start) sends.
		Retry: func(delivery.Attempt, error) (time.Duration, error) { return 0, delivery.ErrRetriesExhausted },
	})
	if err != nil {
		return err
	}
	invoices := delivery.Endpoint{ID: "ep_invoices", URL: receiver.URL + "/invoices", Secrets: []string{secret}}
	deliveries := []struct {
		event    delivery.Event
		endpoint delivery.Endpoint
	}{
		{delivery.Event{ID: "evt_1001", Type: "invoice.paid", Payload: []byte(`{"invoice":1001,"amount":4200}`)}, invoices},
		{delivery.Event{ID: "evt_1002", Type: "invoice.paid", Payload: []byte(`{"invoice":1002,"amount":990}`)}, invoices},
		{delivery.Event{ID: "evt_1003", Type: "user.created", Payload: []byte(`{"user":"ada"}`)},
			delivery.Endpoint{ID: "ep_users", URL: receiver.URL + "/users", Secrets: []string{secret}}},
		{delivery.Event{ID: "evt_1004", Type: "invoice.paid", Payload: []byte(`{"invoice":1004}`)},
			delivery.Endpoint{ID: "ep_wrong_secret", URL: receiver.URL + "/invoices", Secrets: []string{delivery.NewSecret()}}},
	}
	var made []delivery.Attempt
	for _, dl := range deliveries {
		a, err := d.Deliver(ctx, dl.event, dl.endpoint)
		if a.ID != "" {
			made = append(made, a)
		}
		switch {
		case errors.Is(err, delivery.ErrDuplicate):
			// The event ID is an idempotency key: running this again sends
			// nothing twice. Dispatcher.Resend sends an event again.
			fmt.Fprintf(out, "%s to %s: delivered before, not sent again\n", dl.event.ID, dl.endpoint.ID)
		case err != nil:
			// A failed delivery is recorded; the error says so.
			fmt.Fprintln(out, "delivery failed:", err)
		}
	}

	fmt.Fprintln(out, "\nEvery attempt stored so far:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTEMPT\tEVENT\tENDPOINT\tSTATUS\tCODE\tRESPONSE\tATTEMPTED AT\tDURATION")
	for q := (delivery.ListQuery{}); ; {
		page, err := store.List(ctx, q)
		if err != nil {
			return err
		}
		for _, a := range page.Attempts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.30q\t%s\t%v\n", a.ID, a.EventID, a.EndpointID, a.Status,
				a.ResponseStatusCode, a.Response, a.AttemptedAt.Format(time.DateTime), a.Duration.Round(time.Microsecond))
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(made) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nThis run's attempts as JSON:")
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(made)
}
