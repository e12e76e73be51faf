// Command quickstart delivers a few webhooks to a local receiver and prints
// the attempt records: as a table, then as JSON.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"text/tabwriter"
	"time"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
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

	// The host's side: a Dispatcher recording attempts in a Store.
	store := memstore.New()
	d, err := delivery.NewDispatcher(store, &delivery.Config{Timeout: 5 * time.Second})
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
	for _, dl := range deliveries {
		if _, err := d.Deliver(ctx, dl.event, dl.endpoint); err != nil {
			// A failed delivery is recorded; the error says so.
			fmt.Fprintln(out, "delivery failed:", err)
		}
	}

	page, err := store.List(ctx, delivery.ListQuery{})
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTEMPT\tEVENT\tENDPOINT\tSTATUS\tCODE\tRESPONSE\tDURATION")
	for _, a := range page.Attempts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.30q\t%v\n", a.ID, a.EventID, a.EndpointID, a.Status,
			a.ResponseStatusCode, a.Response, a.Duration.Round(time.Microsecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(page.Attempts)
}
