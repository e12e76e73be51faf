// Command quickstart delivers four webhooks to a local receiver with
// Dispatcher.Deliver, says what happened to each and why, and prints the
// audit trail that the store keeps.
//
// Attempts are stored in the SQLite file quickstart.db in the current
// directory. An event goes to an endpoint once, so a second run sends
// nothing again: it says so, and shows the trail of the first. -json prints
// the records in full. To use PostgreSQL instead:
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
	sqlitePath := flag.String("sqlite", "quickstart.db", "the SQLite file that keeps the attempts")
	postgres := flag.String("postgres", os.Getenv("DELIVERY_POSTGRES_DSN"), "a PostgreSQL DSN; if set, attempts go there instead of SQLite")
	asJSON := flag.Bool("json", false, "print the attempt records as JSON, in full, instead of the table")
	flag.Parse()
	db, err := openDB(*sqlitePath, *postgres)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := run(context.Background(), db, os.Stdout, *asJSON); err != nil {
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

// demo is one demo delivery and what the receiver will make of it.
type demo struct {
	event    delivery.Event
	endpoint delivery.Endpoint
	why      string // why the outcome is what it is
}

func run(ctx context.Context, db *sql.DB, out io.Writer, asJSON bool) error {
	// The store: tables beside the host's own, created by Migrate.
	store, err := sqlstore.New(db, nil)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}

	// The customer's side: a receiver that verifies signatures, accepts
	// invoices, and has no hook for users. It keeps the first request it
	// gets, to show what a signed request looks like.
	secret := delivery.NewSecret()
	verifier, err := delivery.NewVerifier(secret)
	if err != nil {
		return err
	}
	var first sync.Once
	var shown strings.Builder
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		first.Do(func() { shown.WriteString(describe(r, body)) })
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

	// The host's side: a Dispatcher recording attempts in the store, with
	// the default retry policy. No worker runs here, so a retry it
	// schedules stays pending; examples/outbox runs one.
	d, err := delivery.NewDispatcher(store, &delivery.Config{
		Timeout: 5 * time.Second,
		// The demo receiver is on 127.0.0.1, which the default address
		// policy refuses: a customer's URL must not reach your own network.
		AddressPolicy: delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8")),
	})
	if err != nil {
		return err
	}
	invoices := delivery.Endpoint{ID: "ep_invoices", URL: receiver.URL + "/invoices", Secrets: []string{secret}}
	demos := []demo{
		{delivery.Event{ID: "evt_1001", Type: "invoice.paid", Payload: []byte(`{"invoice":1001,"amount":4200}`)}, invoices,
			"signature verified, and the receiver answered 2xx"},
		{delivery.Event{ID: "evt_1002", Type: "invoice.paid", Payload: []byte(`{"invoice":1002,"amount":990}`)}, invoices,
			"signature verified, and the receiver answered 2xx"},
		{delivery.Event{ID: "evt_1003", Type: "user.created", Payload: []byte(`{"user":"ada"}`)},
			delivery.Endpoint{ID: "ep_users", URL: receiver.URL + "/users", Secrets: []string{secret}},
			"no hook at /users; 404s are retried: receivers fix their setup"},
		{delivery.Event{ID: "evt_1004", Type: "invoice.paid", Payload: []byte(`{"invoice":1004}`)},
			delivery.Endpoint{ID: "ep_forged", URL: receiver.URL + "/invoices", Secrets: []string{delivery.NewSecret()}},
			"signed with a secret the receiver does not know"},
	}

	fmt.Fprintln(out, "Delivering 4 events to a local receiver; each try is recorded in the store.")
	for _, dm := range demos {
		a, err := d.Deliver(ctx, dm.event, dm.endpoint)
		var failed *delivery.AttemptError
		switch {
		case errors.Is(err, delivery.ErrDuplicate):
			// The event ID is an idempotency key: running this again sends
			// nothing twice. Dispatcher.Resend sends an event again.
			fmt.Fprintf(out, "  %s to %s: enqueued before, so not sent again\n", dm.event.ID, dm.endpoint.ID)
			continue
		case err == nil:
			fmt.Fprintf(out, "  %s to %s: %d, delivered\n    (%s)\n", dm.event.ID, dm.endpoint.ID, a.ResponseStatusCode, dm.why)
		case errors.As(err, &failed):
			next := "no retry follows"
			if failed.Next != nil {
				next = fmt.Sprintf("retry #%d due at %s", failed.Next.AttemptNumber, failed.Next.ScheduledAt.Format("15:04:05Z"))
			}
			fmt.Fprintf(out, "  %s to %s: %d, failed; %s\n    (%s)\n", dm.event.ID, dm.endpoint.ID, a.ResponseStatusCode, next, dm.why)
		default:
			return err
		}
	}
	if shown.Len() > 0 {
		fmt.Fprintf(out, "\nThe first request, as the receiver saw it:\n%s", shown.String())
	}

	if asJSON {
		return printJSON(ctx, store, out)
	}
	return printTable(ctx, store, out)
}

// describe returns the request's Standard Webhooks headers and its body,
// indented, as the receiver saw them.
func describe(r *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  POST %s\n", r.URL.Path)
	for _, name := range []string{"Content-Type", delivery.HeaderID, delivery.HeaderTimestamp, delivery.HeaderSignature} {
		fmt.Fprintf(&b, "  %s: %s\n", name, r.Header.Get(name))
	}
	fmt.Fprintf(&b, "\n  %s\n", body)
	return b.String()
}

// printTable prints every attempt in the store, one line each, in 80
// columns.
func printTable(ctx context.Context, store delivery.Store, out io.Writer) error {
	fmt.Fprintln(out, "\nThe audit trail: every attempt in the store (-json prints them in full).")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tENDPOINT\t#\tSTATUS\tCODE\tATTEMPTED (UTC)\tRESPONSE")
	pending := 0
	err := eachAttempt(ctx, store, func(a delivery.Attempt) {
		if a.Status == delivery.StatusPending {
			pending++
		}
		at := "-"
		if !a.AttemptedAt.IsZero() {
			at = a.AttemptedAt.Format("01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", a.EventID, a.EndpointID, a.AttemptNumber, a.Status, a.ResponseStatusCode, at, oneLine(a.Response, 14))
	})
	if err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pending > 0 {
		fmt.Fprintln(out, "\nThe pending retries wait for a worker (Dispatcher.Start), which this demo\ndoes not run; go run ./examples/outbox shows one.")
	}
	return nil
}

// printJSON prints every attempt in the store as JSON.
func printJSON(ctx context.Context, store delivery.Store, out io.Writer) error {
	var all []delivery.Attempt
	if err := eachAttempt(ctx, store, func(a delivery.Attempt) { all = append(all, a) }); err != nil {
		return err
	}
	fmt.Fprintln(out)
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(all)
}

// eachAttempt calls f with every attempt in the store, page by page.
func eachAttempt(ctx context.Context, store delivery.Store, f func(delivery.Attempt)) error {
	for q := (delivery.ListQuery{}); ; {
		page, err := store.List(ctx, q)
		if err != nil {
			return err
		}
		for _, a := range page.Attempts {
			f(a)
		}
		if page.Next == "" {
			return nil
		}
		q.After = page.Next
	}
}

// oneLine returns text on one line, cut to max characters.
func oneLine(text string, max int) string {
	text = strings.Join(strings.Fields(strings.ToValidUTF8(text, "?")), " ")
	if r := []rune(text); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return text
}
